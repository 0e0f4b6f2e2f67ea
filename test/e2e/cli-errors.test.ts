/**
 * The errors a user will hit, through the real binary: one line naming the thing and
 * the fix, the DESIGN.md exit code (2 usage/config, 3 runtime), no stack trace without
 * --verbose, and never a password.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { liveDialects, postgresMode, type TestDatabase } from '../helpers/databases.ts';

const live = await liveDialects();
const pgServer = live.includes('postgres') && (await postgresMode()) === 'server';

let dir: string;
const dbs: TestDatabase[] = [];
const writeConfig = (config: unknown, name = 'dsync.config.json') => {
  writeFileSync(join(dir, name), typeof config === 'string' ? config : JSON.stringify(config));
  return join(dir, name);
};
const cli = (...args: string[]) => runCli(args, { cwd: dir, env: { DSYNC_CONFIG: '' } });
const oneLine = (stderr: string) =>
  stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('  hint:'));

const sqliteNodes = (a: string, b: string) => ({
  nodes: { testapp1: { dialect: 'sqlite', url: a, serverId: 'server1' }, testapp2: { dialect: 'sqlite', url: b, serverId: 'server2' } },
  tables: ['sales_order'],
  programs: [
    { id: 1000, type: 'transport', from: 'testapp1', to: 'testapp2' },
    { id: 1001, type: 'import', node: 'testapp2' },
  ],
});

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dsync-cli-'));
});
afterAll(async () => {
  for (const db of dbs) await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe('config errors exit 2 with the key and the fix', () => {
  it('no config file', async () => {
    const r = await cli('status');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no config file at .*dsync\.config\.json/);
    expect(r.stderr).toMatch(/hint: run `dsync init`/);
  });

  it('invalid JSON', async () => {
    writeConfig('{ "nodes": { ');
    const r = await cli('status');
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/is not valid JSON/);
  });

  it('a wrong value names its key', async () => {
    writeConfig({ ...sqliteNodes('a.db', 'b.db'), nodes: { x: { dialect: 'oracle', url: 'u', serverId: 's' } } });
    const r = await cli('status');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config nodes\.x\.dialect: /);
  });

  it('a program naming an unknown node', async () => {
    writeConfig({ ...sqliteNodes('a.db', 'b.db'), programs: [{ id: 1, type: 'transport', from: 'testapp1', to: 'nowhere' }] });
    const r = await cli('status');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config programs\[0\]\.to: unknown node "nowhere"/);
  });

  it('an unset environment variable', async () => {
    writeConfig({ ...sqliteNodes('${DSYNC_TEST_UNSET_VAR}', 'b.db') });
    const r = await cli('status');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config nodes\.testapp1\.url: environment variable DSYNC_TEST_UNSET_VAR is not set/);
  });

  it('an unknown program id', async () => {
    writeConfig(sqliteNodes('a.db', 'b.db'));
    const r = await cli('transport', '--program', '4242');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown program id 4242/);
    expect(r.stderr).toMatch(/programs in the config: 1000, 1001/);
  });

  it('an unknown command', async () => {
    const r = await cli('sink');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Unknown argument|Did you mean/);
  });
});

describe('runtime errors exit 3 with the node and the fix', () => {
  it('sync objects not applied yet', async () => {
    writeConfig(sqliteNodes(join(dir, 'a.db'), join(dir, 'b.db')));
    const r = await cli('transport', '--program', '1000');
    expect(r.code).toBe(3);
    expect(oneLine(r.stderr)).toEqual([
      'dsync: node testapp1: the sync objects are not applied (no ds_program_parameter row for program 1000)',
    ]);
    expect(r.stderr).toMatch(/hint: run `dsync generate --node testapp1` and `dsync apply --node testapp1`/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a synchronized table missing at the target', async () => {
    writeConfig(sqliteNodes(join(dir, 'a.db'), join(dir, 'b.db')));
    const r = await cli('generate', '--node', 'testapp2');
    expect(r.code).toBe(3);
    expect(oneLine(r.stderr)).toEqual(['dsync: table sales_order does not exist']);
    expect(r.stderr).toMatch(/hint: create it first/);
  });

  it('a SQLite file in a folder that does not exist', async () => {
    writeConfig(sqliteNodes(join(dir, 'no', 'such', 'folder', 'a.db'), join(dir, 'b.db')));
    const r = await cli('status', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).programs[0]).toMatchObject({ status: 'unavailable', message: expect.stringMatching(/node testapp1/) });
    const t = await cli('transport', '--program', '1000');
    expect(t.code).toBe(3);
    expect(oneLine(t.stderr)).toHaveLength(1);
    expect(t.stderr).toMatch(/node testapp1/);
  });

  it('an unreachable PostgreSQL server, without the password', async () => {
    writeConfig({
      ...sqliteNodes('a.db', 'b.db'),
      nodes: { testapp1: { dialect: 'postgres', url: 'postgres://app:S3cretPw@127.0.0.1:1/testapp1', serverId: 's1' } },
      programs: [],
    });
    const r = await cli('introspect', 'testapp1');
    expect(r.code).toBe(3);
    expect(oneLine(r.stderr)).toEqual([
      'dsync: node testapp1: cannot reach PostgreSQL at postgres://app:***@127.0.0.1:1/testapp1 (ECONNREFUSED)',
    ]);
    expect(r.stderr).toMatch(/hint: start the server, or fix nodes\.testapp1\.url/);
    const verbose = await cli('introspect', 'testapp1', '--verbose');
    expect(verbose.stderr).not.toContain('S3cretPw');
  });

  it.skipIf(!pgServer)('a login PostgreSQL refuses, without the password', async () => {
    writeConfig({
      ...sqliteNodes('a.db', 'b.db'),
      nodes: { testapp1: { dialect: 'postgres', url: 'postgres://no_such_role_dsync:S3cretPw@127.0.0.1:5432/postgres', serverId: 's1' } },
      programs: [],
    });
    const r = await cli('introspect', 'testapp1', '--verbose');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/node testapp1: PostgreSQL refused the login/);
    expect(r.stderr).not.toContain('S3cretPw');
  });

  it.skipIf(!live.includes('mysql'))('a wrong MySQL password, without the password', async () => {
    writeConfig({
      ...sqliteNodes('a.db', 'b.db'),
      nodes: { testapp1: { dialect: 'mysql', url: 'mysql://root:WrongPw123@127.0.0.1:3306/mysql', serverId: 's1' } },
      programs: [],
    });
    const r = await cli('introspect', 'testapp1', '--verbose');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/node testapp1/);
    expect(r.stderr).not.toContain('WrongPw123');
  });

  it.skipIf(!pgServer)('a database that does not exist', async () => {
    writeConfig({
      ...sqliteNodes('a.db', 'b.db'),
      nodes: { testapp1: { dialect: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/dsync_no_such_db', serverId: 's1' } },
      programs: [],
    });
    const r = await cli('introspect', 'testapp1');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/PostgreSQL has no such database/);
    expect(r.stderr).toMatch(/hint: create it \(createdb\)/);
  });
});

describe('init', () => {
  it('writes a starter config that loads, and refuses to overwrite it', async () => {
    const path = join(dir, 'init', 'dsync.config.json');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'init'));
    const first = await runCli(['init'], { cwd: join(dir, 'init'), env: { DSYNC_CONFIG: '' } });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(path);
    const again = await runCli(['init'], { cwd: join(dir, 'init'), env: { DSYNC_CONFIG: '' } });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists/);
  });
});
