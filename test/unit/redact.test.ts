/**
 * The one redaction (src/core/redact.ts): each rule on its own (the masking by position
 * first, before any secret is known), then the known secrets, then the places that apply
 * it without being asked (DsyncError, describeError, the connection-error wording, the
 * config loader, the CLI's printers).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/config.ts';
import { explainConnectError } from '../../src/core/connect-error.ts';
import { ConnectionError, describeError } from '../../src/core/errors.ts';
import { redactSecrets, secretsIn } from '../../src/core/redact.ts';
import { printError, printJson } from '../../src/cli/output.ts';

const SECRET = 'S3cr3t-pw@x';

describe('masking by position (no secret known yet)', () => {
  it.each([
    ['userinfo', `postgres://app:${encodeURIComponent(SECRET)}@db:5432/sales`, 'postgres://app:***@db:5432/sales'],
    ['userinfo with an unencoded @', `postgres://app:${SECRET}@db:5432/sales`, 'postgres://app:***@db:5432/sales'],
    ['userinfo with / in the password', 'postgres://app:p/ss@db/sales (ECONNREFUSED)', 'postgres://app:***@db/sales (ECONNREFUSED)'],
    ['?password=', `postgres://app@db/sales?password=${SECRET}&sslmode=require`, 'postgres://app@db/sales?password=***&sslmode=require'],
    ['userinfo and ?password= together', `mssql://sa:${SECRET}@db/sales?password=${SECRET}`, 'mssql://sa:***@db/sales?password=***'],
    [
      'pwd, passwd, sslpassword, sslkey',
      'x://h/d?pwd=a1b2&passwd=c3d4&sslpassword=e5f6&sslkey=/etc/k.pem',
      'x://h/d?pwd=***&passwd=***&sslpassword=***&sslkey=***',
    ],
    [
      'a SQL Server connection string',
      'Server=db;User Id=sa;Password=Pa55 w0rd;Encrypt=true',
      'Server=db;User Id=sa;Password=***;Encrypt=true',
    ],
    ['a base64 password', 'Server=db;Pwd=YWJj==;Encrypt=true', 'Server=db;Pwd=***;Encrypt=true'],
    ['a braced SQL Server password', 'Server=db;Password={a;b}}c};Encrypt=true', 'Server=db;Password=***;Encrypt=true'],
    ['a quoted keyword/value password', "host=db password='it''s secret' user=app", 'host=db password=*** user=app'],
    [
      'a config printed by util.inspect',
      "{ server: 'db', password: 'Pa55-w0rd', user: 'sa' }",
      "{ server: 'db', password: '***', user: 'sa' }",
    ],
    ['a config printed as JSON', '{"user":"sa","password":"Pa55-w0rd"}', '{"user":"sa","password":"***"}'],
  ])('%s', (_what, text, expected) => {
    expect(redactSecrets(text)).toBe(expected);
  });

  it('leaves URLs without a password, and the placeholders of hints, as they are', () => {
    for (const text of [
      'postgres://app@db:5432/sales?sslmode=require',
      'postgres://db:5432/sales',
      'write mysql://user:password@host:3306/database',
      'use ${PGPASSWORD} in the url: postgres://app:${PGPASSWORD}@db/sales',
      "MySQL refused: Access denied for user 'app'@'localhost' (using password: YES)",
    ]) {
      expect(redactSecrets(text)).toBe(text);
    }
  });

  it('finds the secrets of a url, an unencoded @ and a ?password= @ kept apart', () => {
    expect(secretsIn(`postgres://app:${SECRET}@db/sales?password=${SECRET}2`)).toEqual([`${SECRET}2`, SECRET]);
  });
});

describe('known secrets', () => {
  afterEach(() => vi.restoreAllMocks());

  it('are masked literally anywhere once a config names them, in every form', () => {
    const bare = `the driver said: bad password ${SECRET} and ${encodeURIComponent('Env-Pa55@y')}`;
    expect(redactSecrets(bare)).toBe(bare);
    parseConfig(
      {
        nodes: {
          a: { dialect: 'postgres', url: `postgres://app:${SECRET}@db/sales`, serverId: 'a' },
          b: { dialect: 'postgres', url: 'postgres://app:${DSYNC_UNIT_DB_PASSWORD}@${DSYNC_UNIT_DB_HOST}/sales', serverId: 'b' },
        },
        tables: ['t'],
      },
      '/tmp',
      null,
      { DSYNC_UNIT_DB_PASSWORD: 'Env-Pa55@y', DSYNC_UNIT_DB_HOST: 'dbhost' },
    );
    expect(redactSecrets(bare)).toBe('the driver said: bad password *** and ***');
    // A variable that is not a secret (a host) stays readable outside the password's place.
    expect(redactSecrets('cannot reach dbhost')).toBe('cannot reach dbhost');
  });

  it('never reach a DsyncError message or hint, describeError, nor the CLI printers', () => {
    parseConfig(
      { nodes: { a: { dialect: 'postgres', url: `postgres://app@db/sales?password=${SECRET}`, serverId: 'a' } }, tables: ['t'] },
      '/tmp',
      null,
      {},
    );
    const cause = new Error(`login failed with ${SECRET}`);
    const error = explainConnectError(
      cause,
      { brand: 'PostgreSQL', where: 'x', nodeName: 'a' },
      { message: `cannot connect: ${cause.message}`, hint: `retry with ${SECRET}` },
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toBe('node a: cannot connect: login failed with ***');
    expect(error.hint).toBe('retry with ***, or fix nodes.a.url in the config');
    expect(describeError(cause)).toBe('login failed with ***');
    const printed: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: string) => void printed.push(line));
    vi.spyOn(console, 'log').mockImplementation((line: string) => void printed.push(line));
    printError(error, true);
    printError(cause, true);
    printJson({ message: cause.message, nested: [{ url: `postgres://app:${SECRET}@db/sales` }] });
    expect(printed.join('\n')).toContain('login failed with ***');
    expect(printed.join('\n')).not.toMatch(/S3cr3t|pw@x/);
  });
});
