import type { TableSchema } from '../../core/schema.ts';
import { loadConfig } from '../config-file.ts';
import { withNode } from '../connect.ts';
import { printJson, printLine } from '../output.ts';
import type { Command, GlobalArgs } from './command.ts';

function describeTable(table: TableSchema): string {
  const rows = table.columns.map((c) => {
    const flags = [
      table.primaryKey.includes(c.name) ? `key ${table.primaryKey.indexOf(c.name) + 1}` : '',
      c.nullable ? 'null' : 'not null',
      c.default ? `default ${c.default}` : '',
      c.generated ? 'generated (not synchronized)' : '',
    ].filter(Boolean);
    return `  ${c.name.padEnd(24)} ${c.nativeType.padEnd(28)} ${c.family.padEnd(11)} ${flags.join(', ')}`;
  });
  return [`table ${table.schema ? `${table.schema}.` : ''}${table.name} (primary key: ${table.primaryKey.join(', ')})`, ...rows].join('\n');
}

export const introspectCommand: Command<GlobalArgs & { node: string; table?: string; json: boolean }> = {
  command: 'introspect <node>',
  describe: 'print the neutral schema of the synchronized tables of a node',
  builder: (y) =>
    y
      .positional('node', { type: 'string', describe: 'node name from the config' })
      .option('table', { type: 'string', describe: 'only this table (any table of the database)' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
  async run(args) {
    const config = loadConfig(args.config);
    const names = args.table ? [args.table] : config.tables.map((t) => t.name);
    const tables = await withNode(config, args.node, async ({ dialect, client }) => {
      const found: TableSchema[] = [];
      for (const name of names) found.push(await dialect.introspect(client, name));
      return found;
    });
    if (args.json) printJson(tables);
    else printLine(tables.map(describeTable).join('\n\n'));
    return 0;
  },
};
