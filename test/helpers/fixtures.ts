/** The fixture config and schemas (fixtures/), bound to the databases a test created. */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, parseConfig } from '../../src/config/config.ts';
import type { DbClient, DialectName } from '../../src/core/dialect.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(ROOT, 'fixtures');

/** fixtures/dsync.config.json with only the nodes given (node name = dialect name) and their programs. */
export function fixtureConfig(urls: Partial<Record<DialectName, string>>, generatedDir = join(ROOT, 'generated')): Config {
  const raw = JSON.parse(readFileSync(join(FIXTURES, 'dsync.config.json'), 'utf8'));
  const keep = (n?: string) => n === undefined || n in urls;
  raw.nodes = Object.fromEntries(Object.entries(raw.nodes).filter(([name]) => name in urls));
  raw.programs = raw.programs.filter((p: { from?: string; to?: string; node?: string }) => keep(p.from) && keep(p.to) && keep(p.node));
  raw.generatedDir = generatedDir;
  const env = Object.fromEntries(Object.entries(urls).map(([d, url]) => [`DSYNC_FIXTURE_${d.toUpperCase()}_URL`, url]));
  return parseConfig(raw, FIXTURES, null, env);
}

/** Creates the fixture tables (fixtures/schema/<dialect>.sql) in a fresh database. */
export async function applyFixtureSchema(client: DbClient): Promise<void> {
  const script = readFileSync(join(FIXTURES, 'schema', `${client.dialect.name}.sql`), 'utf8');
  for (const statement of client.dialect.splitScript(script)) await client.exec(statement);
}
