import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../../core/errors.ts';
import type { Command, GlobalArgs } from './command.ts';

/** The README example: a PostgreSQL node and a SQLite file, both directions. */
export const STARTER_CONFIG = {
  nodes: {
    testapp1: { dialect: 'postgres', url: 'postgres://${PGUSER}@127.0.0.1:5432/testapp1', serverId: 'server1' },
    testapp2: { dialect: 'sqlite', url: 'testapp2.db', serverId: 'server2' },
  },
  tables: [{ name: 'sales_order', conflict: 'latest-wins' }],
  programs: [
    { id: 1000, type: 'transport', from: 'testapp1', to: 'testapp2', intervalSeconds: 5 },
    { id: 1001, type: 'import', node: 'testapp2', intervalSeconds: 5 },
    { id: 1002, type: 'transport', from: 'testapp2', to: 'testapp1', intervalSeconds: 5 },
    { id: 1003, type: 'import', node: 'testapp1', intervalSeconds: 5 },
  ],
  http: { port: 9464 },
};

export const initCommand: Command<GlobalArgs & { force: boolean }> = {
  command: 'init',
  describe: 'write a starter config (dsync.config.json)',
  builder: (y) => y.option('force', { type: 'boolean', default: false, describe: 'overwrite an existing file' }),
  async run(args) {
    const path = resolve(args.config || process.env.DSYNC_CONFIG || 'dsync.config.json');
    if (existsSync(path) && !args.force) {
      throw new ConfigError('config_exists', `${path} already exists`, { hint: 'edit it, or pass --force to replace it' });
    }
    writeFileSync(path, `${JSON.stringify(STARTER_CONFIG, null, 2)}\n`);
    console.log(`wrote ${path}: edit the nodes and tables, then run \`dsync generate\` and \`dsync apply\``);
    return 0;
  },
};
