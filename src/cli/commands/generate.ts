import { join, relative, resolve } from 'node:path';
import { getNode } from '../../config/config.ts';
import { writeGenerated } from '../../generate/generate.ts';
import { NodeSet } from '../../runtime/nodes.ts';
import { loadConfig } from '../config-file.ts';
import { EXIT } from '../output.ts';
import type { Command, GlobalArgs } from './command.ts';

export const generateCommand: Command<GlobalArgs & { node?: string; out?: string; check: boolean }> = {
  command: 'generate',
  describe: 'write the sync objects of each node as SQL files (--check: compare instead)',
  builder: (y) =>
    y
      .option('node', { type: 'string', describe: 'only this node' })
      .option('out', { type: 'string', describe: 'output directory (default: generated/ beside the config)' })
      .option('check', { type: 'boolean', default: false, describe: 'exit 1 when the files on disk differ from what would be generated' }),
  async run(args) {
    const config = loadConfig(args.config);
    const outDir = args.out ? resolve(args.out) : config.generatedDir;
    const nodeNames = args.node ? [getNode(config, args.node).name] : Object.keys(config.nodes);
    let differences = 0;
    for (const name of nodeNames) {
      const nodes = new NodeSet(config);
      const result = await writeGenerated(config, nodes, name, { dir: outDir, check: args.check }).finally(() => nodes.closeAll());
      const { files, differences: diff } = result;
      const shown = relative(process.cwd(), result.dir) || '.';
      if (args.check) {
        differences += diff.length;
        for (const d of diff) console.log(`${d.change.padEnd(8)} ${join(shown, d.fileName)}`);
        if (diff.length === 0) console.log(`${shown}: up to date (${files.length} files)`);
      } else {
        console.log(
          `${shown}: ${files.length} files, ${diff.length} changed${diff.length ? ` (${diff.map((d) => `${d.change} ${d.fileName}`).join(', ')})` : ''}`,
        );
      }
    }
    if (args.check && differences > 0) {
      console.log(`${differences} generated file(s) differ: run \`dsync generate\` and commit the result`);
      return EXIT.differences;
    }
    return EXIT.ok;
  },
};
