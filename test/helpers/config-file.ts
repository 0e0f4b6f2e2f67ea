/** A config built in a test, written to a file for the CLI binary (test/helpers/cli.ts). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../src/config/config.ts';

export function writeConfigFile(config: Config, dir: string): string {
  const path = join(dir, 'dsync.config.json');
  const raw = {
    nodes: Object.fromEntries(Object.values(config.nodes).map((n) => [n.name, { dialect: n.dialect, url: n.url, serverId: n.serverId }])),
    tables: config.tables,
    programs: config.programs.map((p) => ({
      id: p.id,
      type: p.type,
      batchSize: p.batchSize,
      ...(p.type === 'transport' ? { from: p.from, to: p.to } : { node: p.node }),
    })),
    generatedDir: config.generatedDir,
  };
  writeFileSync(path, JSON.stringify(raw, null, 2));
  return path;
}
