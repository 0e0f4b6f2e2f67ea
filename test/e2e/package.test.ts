/**
 * The package as a user gets it: `npm pack` the repository, install the tarball into a
 * fresh project, and use it from there only: the typed API from a JavaScript ES module
 * and from TypeScript (type-checked against the installed .d.ts), and the installed
 * `dsync` binary. A wrong `exports`, `types` or `files` in package.json fails here,
 * where the repository's own tests (which import src/) would not notice.
 *
 * The install uses the npm cache (`--offline`) and falls back to the registry when the
 * cache lacks a package. Install scripts are skipped (dsync's `prepare` would rebuild
 * from sources the tarball does not ship); better-sqlite3's native binding is taken
 * from the repository's own install when the versions match, rebuilt otherwise.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/fixtures.ts';

let dir: string;
let project: string;
let packed: string[] = [];

/** npm's own settings leak from `npm test` into child processes (npm_config_*): a nested npm must not inherit them. */
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));

function run(command: string, args: string[], cwd: string, timeoutMs = 120_000) {
  const result = spawnSync(command, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return {
    code: result.status ?? -1,
    stdout: result.stdout ?? '',
    stderr: `${result.stderr ?? ''}${result.error ? String(result.error) : ''}`,
  };
}

function must(result: ReturnType<typeof run>, what: string) {
  if (result.code !== 0) throw new Error(`${what} failed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  return result;
}

const version = (packageDir: string) => JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')).version as string;

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does it first)');
  dir = mkdtempSync(join(tmpdir(), 'dsync-package-'));
  const [info] = JSON.parse(must(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT), 'npm pack').stdout);
  packed = info.files.map((f: { path: string }) => f.path);
  const tarball = join(dir, info.filename);

  project = join(dir, 'app');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'dsync-consumer', private: true, type: 'module' }));
  const install = (mode: string) => run('npm', ['install', mode, '--ignore-scripts', '--no-audit', '--no-fund', tarball], project, 240_000);
  const offline = install('--offline');
  if (offline.code !== 0) must(install('--prefer-offline'), 'npm install of the tarball');

  const installed = join(project, 'node_modules', 'better-sqlite3');
  const ours = join(ROOT, 'node_modules', 'better-sqlite3');
  if (version(installed) === version(ours) && existsSync(join(ours, 'build', 'Release', 'better_sqlite3.node'))) {
    cpSync(join(ours, 'build', 'Release', 'better_sqlite3.node'), join(installed, 'build', 'Release', 'better_sqlite3.node'));
  } else {
    must(run('npm', ['rebuild', 'better-sqlite3'], project, 400_000), 'npm rebuild better-sqlite3');
  }
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships the build, its declarations, the binary and the templates, and no tests or sources', () => {
    for (const file of [
      'package.json',
      'bin/dsync.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/main.js',
      'templates/sqlite/outbox.sql.hbs',
      'README.md',
    ]) {
      expect(packed, file).toContain(file);
    }
    expect(packed.filter((f) => f.startsWith('test/') || f.startsWith('src/') || f.startsWith('bench/'))).toEqual([]);
  });

  it('points types, main, exports and bin at files it ships (TypeScript would quietly fall back past a wrong types path)', () => {
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules', 'dsync', 'package.json'), 'utf8'));
    const targets = [
      manifest.main,
      manifest.types,
      manifest.exports['.'].types,
      manifest.exports['.'].import,
      ...Object.values(manifest.bin),
    ];
    for (const target of targets) expect(packed, String(target)).toContain(String(target).replace(/^\.\//, ''));
  });

  it('works as a library from a JavaScript ES module: config, generate, apply, capture, sync, verify, status, daemon', () => {
    writeFileSync(join(project, 'embed.mjs'), EMBED_SCRIPT);
    const result = must(run(process.execPath, ['embed.mjs'], project), 'node embed.mjs');
    const report = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
    expect(report).toEqual({
      version: version(ROOT),
      applied: [true, true],
      rows: [
        { id: 1, name: 'pen', qty: 3 },
        { id: 2, name: 'ink', qty: 5 },
      ],
      synced: { moved: 2, applied: 2 },
      verifyEqual: false,
      status: ['transport 0', 'import 0'],
      parked: 0,
      errorCode: 'unknown_node',
      errorIsDsync: true,
      healthz: 200,
    });
  });

  it('type-checks from TypeScript against the installed declarations (tsc --noEmit)', () => {
    writeFileSync(join(project, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        files: ['consumer.ts'],
      }),
    );
    const tsc = run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', project], project);
    expect(`${tsc.stdout}${tsc.stderr}`.trim()).toBe('');
    expect(tsc.code).toBe(0);
  });

  it('installs a working `dsync` binary: --version and the demo', () => {
    const bin = join(project, 'node_modules', '.bin', 'dsync');
    const versionRun = must(run(bin, ['--version'], project), 'dsync --version');
    expect(versionRun.stdout.trim()).toBe(version(ROOT));
    const demo = must(run(bin, ['demo'], project), 'dsync demo');
    expect(demo.stdout).toMatch(/testapp2/);
  });
});

/** An app embedding dsync: two SQLite nodes, trigger capture and application capture, one sync, then the read side. */
const EMBED_SCRIPT = `
import { apply, captureChange, DSYNC_VERSION, DsyncError, listParkedChanges, NodeSet, parseConfig, readStatus, startDaemon, sync, verify, writeGenerated } from 'dsync';

const config = parseConfig(
  {
    nodes: { app1: { dialect: 'sqlite', url: 'app1.db', serverId: 'server1' }, app2: { dialect: 'sqlite', url: 'app2.db', serverId: 'server2' } },
    tables: ['item'],
    programs: [
      { id: 1000, type: 'transport', from: 'app1', to: 'app2' },
      { id: 1001, type: 'import', node: 'app2' },
    ],
  },
  process.cwd(),
  null,
);
const nodes = new NodeSet(config);
const out = { version: DSYNC_VERSION };
try {
  out.applied = [];
  for (const name of ['app1', 'app2']) {
    await (await nodes.get(name)).client.exec('CREATE TABLE item (id integer PRIMARY KEY, name varchar(20), qty integer)');
    await writeGenerated(config, nodes, name);
    const result = await apply(config, nodes, name);
    out.applied.push(result.steps.every((s) => s.status === 'applied'));
  }
  const app1 = await nodes.get('app1');
  await app1.client.exec("INSERT INTO item (id, name, qty) VALUES (1, 'pen', 3)");
  await app1.client.transaction((tx) =>
    captureChange(tx, { table: 'item', operation: 'I', key: { id: 2 }, values: { id: 2, name: 'ink', qty: 5 } }, { node: { name: 'app1', serverId: 'server1' } }),
  );
  const report = await sync(config, nodes);
  out.synced = { moved: report.transports.reduce((n, r) => n + r.moved, 0), applied: report.imports.reduce((n, r) => n + r.applied, 0) };
  out.rows = (await (await nodes.get('app2')).client.query('SELECT id, name, qty FROM item ORDER BY id')).rows;
  // captureChange wrote only the outbox row, not app1's table: verify sees row 2 on app2 alone.
  out.verifyEqual = (await verify(config, nodes, 'app1', 'app2')).equal;
  out.status = (await readStatus(config, nodes)).programs.map((p) => p.type + ' ' + p.backlog);
  out.parked = (await listParkedChanges(config, nodes)).parked.length;
  try {
    await nodes.get('nowhere');
  } catch (error) {
    out.errorCode = error.code;
    out.errorIsDsync = error instanceof DsyncError;
  }
} finally {
  await nodes.closeAll();
}
const daemon = await startDaemon(config, { port: 0 });
out.healthz = (await fetch(daemon.url + 'healthz')).status;
await daemon.stop();
console.log(JSON.stringify(out));
`;

/** A TypeScript consumer: every name resolves to a real type, and a wrong call does not compile. */
const CONSUMER_TS = `
import {
  apply, type ApplyResult, captureChange, type Config, ConfigError, Daemon, type DbClient, DsyncError, generate, type GeneratedFile,
  importOnce, listParkedChanges, loadConfigFile, NodeSet, parseConfig, readStatus, retryParkedChange, runProgramOnce, skipParkedChange,
  startDaemon, type StatusReport, sync, syncAll, type SyncReport, transportOnce, verify, type VerifyReport, writeGenerated,
} from 'dsync';

const config: Config = parseConfig({ nodes: {}, tables: [] }, '/tmp', null);
const fromFile: Config = loadConfigFile('dsync.config.json');
const nodes = new NodeSet(config);
const files: Promise<GeneratedFile[]> = generate(config, nodes, 'a');
const written: Promise<{ dir: string }> = writeGenerated(config, nodes, 'a', { check: true });
const applied: Promise<ApplyResult> = apply(config, nodes, 'a', { dryRun: true });
const synced: Promise<SyncReport> = sync(config, nodes, { waitSeconds: 1 });
const same: typeof sync = syncAll;
const status: Promise<StatusReport> = readStatus(config, nodes);
const verified: Promise<VerifyReport> = verify(config, nodes, 'a', 'b', { table: 't' });
async function capture(tx: DbClient): Promise<void> {
  await captureChange(tx, { table: 't', operation: 'U', key: { id: 1 }, values: { n: 2 }, oldValues: { n: 1 } }, { node: { name: 'a', serverId: 's1' } });
}
async function parked(): Promise<number> {
  const { parked } = await listParkedChanges(config, nodes, { all: true });
  await retryParkedChange(config, nodes, 1);
  await skipParkedChange(config, nodes, 2, { node: 'b' });
  return parked.length;
}
async function daemon(): Promise<Daemon> {
  const running = await startDaemon(config, { port: null });
  await running.stop();
  return running.daemon;
}
const passes = [transportOnce, importOnce, runProgramOnce];
const error: DsyncError = new ConfigError('usage', 'wrong');
const code: string = error.code;
// @ts-expect-error a config must be a Config: proves the declarations are real types, not any
syncAll('not a config', nodes);
// @ts-expect-error operation is 'I' | 'U' | 'D'
captureChange({} as DbClient, { table: 't', operation: 'X', key: {} }, { node: { name: 'a', serverId: 's' } });
export { applied, capture, code, daemon, files, fromFile, parked, passes, same, status, synced, verified, written };
`;
