/**
 * "Never print a password", through the real binary and the daemon's HTTP. For each
 * brand, nodes whose url carries one distinctive password in every way a user may write
 * it (userinfo percent-encoded, userinfo with an unencoded `@`, `?password=`, `${VAR}` in
 * the userinfo, the whole url from `${VAR}`); then every output path: status (text and
 * --json), errors, failing transport and import, generate, introspect and verify with
 * --verbose, init, `run` with its log, GET /, /metrics and /healthz, and the files written.
 * The password must appear in none of them, not even in part.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DialectName } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { runCli } from '../helpers/cli.ts';
import { createTestDatabase, MYSQL_ADMIN_URL, type TestDatabase } from '../helpers/databases.ts';
import { ROOT } from '../helpers/fixtures.ts';

const SECRET = 'S3cr3t-pw@x';
/** The password, whole, percent-encoded, or its head or tail (an unencoded `@` cut it in two). */
const LEAK = /S3cr3t|pw(@|%40)x/i;
const ENV = { DSYNC_TEST_SECRET: SECRET, DSYNC_TEST_SECRET_URL: '' };

const dirs: string[] = [];
const dbs: TestDatabase[] = [];
afterAll(async () => {
  for (const db of dbs) await db.drop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Every way of writing the password into `base` (scheme://user@host:port/db?params). */
function secretUrls(base: string): Record<string, string> {
  const m = /^([a-z]+:\/\/)([^@/]*)@([^/?]*)([^?]*)(\?.*)?$/.exec(base)!;
  const [, scheme, user, host, path, query] = m;
  const at = (password: string) => `${scheme}${user}:${password}@${host}${path}${query ?? ''}`;
  return {
    encoded: at(encodeURIComponent(SECRET)),
    unencoded: at(SECRET),
    query: `${scheme}${user}@${host}${path}${query ? `${query}&` : '?'}password=${SECRET}`,
    env: at('${DSYNC_TEST_SECRET}'),
    envurl: '${DSYNC_TEST_SECRET_URL}',
  };
}

/** Per brand, node-name prefix → base url (reachable or not). */
async function baseUrls(dialect: DialectName): Promise<Record<string, string>> {
  if (dialect === 'postgres') {
    // A live database, and local PostgreSQL trusts: the password is sent and the login succeeds. And one where nothing answers.
    const db = await createTestDatabase('postgres', 'dsync_secrets');
    dbs.push(db);
    return { '': db.url, down_: 'postgres://app@127.0.0.1:1/sales' };
  }
  if (dialect === 'mysql') {
    // root has no password: giving one makes MariaDB refuse the login (or, with no server, nothing answers).
    const u = new URL(MYSQL_ADMIN_URL);
    return { '': `mysql://${u.username || 'root'}@${u.host}/dsync_secrets_none` };
  }
  if (dialect === 'mssql') return { '': 'mssql://sa@127.0.0.1:1/sales?connectTimeout=2000' };
  // SQLite: a url is a path; one that looks like a URL names a folder that does not exist.
  return { '': 'sqlite://app@host/lite.db' };
}

/** Nodes that go through every command; the other forms through the status, the daemon, transport and generate. */
const EVERY_COMMAND = new Set(['unencoded', 'query', 'down_unencoded', 'down_query']);

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? [path, ...filesUnder(path)] : [path];
  });
}

describe.each(['postgres', 'mysql', 'mssql', 'sqlite'] as DialectName[])('%s: a password in the url is never printed', (dialect) => {
  it('in no output path, HTTP body or written file', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dsync-secrets-'));
    dirs.push(dir);
    const urls: Record<string, string> = {};
    for (const [prefix, base] of Object.entries(await baseUrls(dialect))) {
      for (const [form, url] of Object.entries(secretUrls(base))) urls[`${prefix}${form}`] = url;
    }
    delete urls.down_envurl; // one ${VAR} url is enough: it names the first base
    const env = { ...ENV, DSYNC_TEST_SECRET_URL: urls.unencoded, DSYNC_CONFIG: '' };
    // On SQLite a `?password=` path opens (a file of that name): a reachable node with a secret-looking url.
    if (dialect === 'sqlite') urls.query = `lite.db?password=${SECRET}`;
    const names = Object.keys(urls);
    const hubUrl = join(dir, 'hub.db');
    const sqlite = await getDialect('sqlite');
    const hub = await sqlite.connect(hubUrl, 'hub');
    await hub.exec('CREATE TABLE sales_order (order_id VARCHAR(20) PRIMARY KEY NOT NULL, description VARCHAR(200))');
    await hub.close();
    if (dialect === 'postgres') {
      const pg = await getDialect('postgres');
      const client = await pg.connect(dbs.at(-1)!.url, 'setup');
      await client.exec('CREATE TABLE sales_order (order_id VARCHAR(20) PRIMARY KEY NOT NULL, description VARCHAR(200))');
      await client.close();
    }
    writeFileSync(
      join(dir, 'dsync.config.json'),
      JSON.stringify({
        nodes: {
          hub: { dialect: 'sqlite', url: hubUrl, serverId: 'hub' },
          ...Object.fromEntries(names.map((n) => [n, { dialect, url: urls[n], serverId: `s-${n}` }])),
        },
        tables: ['sales_order'],
        programs: names.flatMap((n, i) => [
          { id: 100 + i, type: 'transport', from: n, to: 'hub', intervalSeconds: 0.2 },
          { id: 200 + i, type: 'import', node: n, intervalSeconds: 0.2 },
        ]),
      }),
    );
    const outputs: Array<[string, string]> = [];
    const cli = async (...args: string[]) => {
      const r = await runCli(args, { cwd: dir, env });
      outputs.push([`dsync ${args.join(' ')}`, r.stdout + r.stderr]);
      return r;
    };

    expect((await cli('generate', '--node', 'hub')).code).toBe(0);
    expect((await cli('apply', '--node', 'hub')).code).toBe(0);
    expect((await cli('status')).code).toBe(0);
    const json = await cli('status', '--json');
    expect(JSON.parse(json.stdout).programs).toHaveLength(names.length * 2);
    expect((await cli('errors', '--node', 'hub')).code).toBe(0);
    expect((await cli('init', '--config', join(dir, 'init.json'))).code).toBe(0);
    for (const [i, name] of names.entries()) {
      const [transport, generate] = await Promise.all([
        cli('transport', '--program', String(100 + i), '--verbose'),
        cli('generate', '--node', name, '--verbose'),
      ]);
      expect(transport.code, transport.stderr).toBe(3);
      // Where the connection fails, the error names the node and the fix.
      const connects = (dialect === 'postgres' && !name.startsWith('down_')) || (dialect === 'sqlite' && name === 'query');
      if (!connects) expect(generate.stderr).toMatch(new RegExp(`^dsync: node ${name}: .*\\n  hint: .*nodes\\.${name}\\.url`));
      if (!EVERY_COMMAND.has(name)) continue;
      const [, imported] = await Promise.all([
        cli('errors', '--node', name, '--verbose'),
        cli('import', '--program', String(200 + i), '--verbose'),
        cli('introspect', name, '--verbose'),
        cli('verify', 'hub', name, '--verbose'),
      ]);
      expect(imported.code).toBe(3);
    }

    const child = spawn(process.execPath, [join(ROOT, 'bin', 'dsync.js'), 'run', '--port', '0'], {
      cwd: dir,
      env: { ...process.env, ...env },
    });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      let base = '';
      for (let i = 0; i < 150 && !base; i++) {
        await new Promise((r) => setTimeout(r, 100));
        base = /http:\/\/(127\.0\.0\.1:\d+)\//.exec(log)?.[1] ?? '';
      }
      expect(base, log).not.toBe('');
      // Every program fails its first pass; wait until each has said so in the log.
      for (let i = 0; i < 200 && (log.match(/next try in/g) ?? []).length < names.length * 2; i++)
        await new Promise((r) => setTimeout(r, 100));
      expect((log.match(/next try in/g) ?? []).length, log).toBeGreaterThanOrEqual(names.length * 2);
      for (const path of ['/', '/metrics', '/healthz']) {
        const response = await fetch(`http://${base}${path}`);
        outputs.push([`GET ${path}`, await response.text()]);
      }
      expect(outputs.at(-3)![1]).toMatch(/<td>100<\/td>/);
      // Failing, though not yet past failAfterSeconds: /healthz lists each failing program with its error code.
      expect(outputs.at(-1)![1]).toMatch(/^(ok|failing)\n(program \d+: failing for \d+ s \(limit [\d.]+ s\): \w+\n)+$/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    outputs.push(['dsync run (log)', log]);

    // Written files: generated SQL, the init config; by name and by content (the databases and our config aside).
    for (const path of filesUnder(dir).filter((p) => !p.includes('.db') && !p.endsWith('dsync.config.json'))) {
      outputs.push([`file name ${path}`, path.slice(dir.length)]);
      if (statSync(path).isFile()) outputs.push([`file ${path}`, readFileSync(path, 'utf8')]);
    }
    const leaks = outputs.filter(([, text]) => LEAK.test(text)).map(([where, text]) => `${where}:\n${text}`);
    expect(leaks, leaks.join('\n\n')).toEqual([]);
    // The checks saw the outputs that could hold it: the urls, masked.
    expect(outputs.map(([, t]) => t).join('\n')).toMatch(/\*\*\*/);
  });
});
