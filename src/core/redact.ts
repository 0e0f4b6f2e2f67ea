/**
 * The one owner of "never print a password". Every output path (CLI errors and their
 * causes, `status`, `errors`, the daemon's log, its status page) passes text through
 * `redactSecrets`, which does two things:
 *
 * - by position: the password of a URL's userinfo (up to the last `@` of the URL, so an
 *   unencoded `@` in the password does not leak its tail), and the value of secret-looking
 *   parameters (`password=`, `pwd=`, `sslpassword=`, `sslkey=`, …) in URL query strings,
 *   `key=value;` connection strings (SQL Server's `Password=…;`) and quoted configs
 *   (`password: '…'`, `"password":"…"`), as driver messages print them;
 * - literally: every secret dsync knows of (passwords parsed from the configured node URLs,
 *   secret-named `${VAR}` values used in them), wherever it appears, e.g. in a driver
 *   message that quotes the password alone.
 */

const MASK = '***';

/** Parameter names whose value is a secret (lower case; matched case-insensitively). */
const SECRET_KEYS = [
  'password',
  'passwd',
  'pwd',
  'pass',
  'passphrase',
  'sslpassword',
  'sslkey',
  'secret',
  'client_secret',
  'token',
  'access_token',
  'auth_token',
  'api_key',
  'apikey',
  'access_key',
  'secret_key',
  'private_key',
];
const KEYS = SECRET_KEYS.sort((a, b) => b.length - a.length).join('|');

/**
 * `password=value` in a query string or connection string; the value quoted ('', "", {};
 * a doubled quote inside), or words up to a `;` (SQL Server values may hold spaces), or
 * up to `&`, `;` or a space.
 */
const KEY_VALUE = new RegExp(
  `(^|[^A-Za-z0-9_])(${KEYS})(\\s*=\\s*)('(?:[^'\\\\]|\\\\.|'')*'|"(?:[^"\\\\]|\\\\.|"")*"|\\{(?:[^}]|\\}\\})*\\}|[^;&'"\\s=](?:[^;&'"=\\n]*[^;&'"\\s=])?(?=;)|[^\\s;&'"]+)`,
  'gi',
);
/** `password: 'value'` (util.inspect) and `"password":"value"` (JSON). */
const QUOTED_PROPERTY = new RegExp(`(^|[^A-Za-z0-9_])(["']?)(${KEYS})\\2(\\s*:\\s*)(['"])((?:\\\\.|(?!\\5)[^\\\\])*)\\5`, 'gi');
/**
 * `scheme://user:password@host`: the password runs to the last `@` of the URL (WHATWG
 * URL and pg read an unencoded `@` the same way), so greedy up to a space.
 */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/?#@]*):(\S*)@/gi;

/** Placeholders that hints and docs print in place of a password: left as they are. */
const PLACEHOLDER = /^(\*+|password|<password>|\$\{[A-Za-z_][A-Za-z0-9_]*\}|…)$/i;

const known = new Set<string>();
/** Known secrets, longest first so that a secret containing another is masked whole. */
let knownSorted: string[] = [];

/** Shorter values would mask ordinary words and digits everywhere. */
const MIN_KNOWN_LENGTH = 3;

/** Adds a secret to be masked literally from all output from now on (with its URL-encoded forms). */
export function rememberSecret(value: string | undefined): void {
  if (!value || value.length < MIN_KNOWN_LENGTH || PLACEHOLDER.test(value)) return;
  let decoded = value;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    // not percent-encoded: the value as it is
  }
  for (const form of [value, decoded, encodeURIComponent(decoded)]) if (form.length >= MIN_KNOWN_LENGTH) known.add(form);
  knownSorted = [...known].sort((a, b) => b.length - a.length);
}

const unquote = (value: string) => (/^(['"{]).*['"}]$/s.test(value) ? value.slice(1, -1) : value);

/** The secrets `text` holds by position (URL password, secret parameters), as written. */
export function secretsIn(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(KEY_VALUE)) found.push(unquote(m[4]));
  for (const m of text.matchAll(QUOTED_PROPERTY)) found.push(m[6]);
  // With parameter values masked first, an `@` in `?password=p@ss` does not stretch the userinfo.
  const masked = text.replace(KEY_VALUE, (_, before: string, key: string, eq: string) => `${before}${key}${eq}${MASK}`);
  for (const m of masked.matchAll(USERINFO)) found.push(m[3]);
  return found.filter((s) => s && !PLACEHOLDER.test(s));
}

/**
 * Remembers the secrets of one configured node URL: its password and secret parameters,
 * and the values of the `${VAR}`s in `template` whose name says secret (PGPASSWORD,
 * DB_TOKEN, …). Other variables (a host, a user name) are masked by position when they
 * sit in a secret place; masking them everywhere would blank out words like "postgres".
 */
export function rememberUrlSecrets(url: string, template: string, env: NodeJS.ProcessEnv): void {
  for (const secret of secretsIn(url)) rememberSecret(secret);
  for (const [, name] of template.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
    if (/pass|pwd|secret|token|key|cred/i.test(name)) rememberSecret(env[name]);
  }
}

/** Remembers the secrets of every node URL and NATS `via` URL of a config, raw (with `${VAR}`) and expanded. */
export function rememberConfigSecrets(raw: unknown, expanded: unknown, env: NodeJS.ProcessEnv): void {
  const nodesOf = (c: unknown) =>
    ((c && typeof c === 'object' && (c as { nodes?: unknown }).nodes) || {}) as Record<string, { url?: unknown } | undefined>;
  const templates = nodesOf(raw);
  for (const [name, node] of Object.entries(nodesOf(expanded))) {
    const template = templates[name]?.url;
    if (typeof node?.url === 'string') rememberUrlSecrets(node.url, typeof template === 'string' ? template : '', env);
  }
  // A transport program's `via` (nats://user:password@host) holds credentials too.
  const viasOf = (c: unknown) => {
    const programs = c && typeof c === 'object' ? (c as { programs?: unknown }).programs : undefined;
    return Array.isArray(programs) ? programs.map((p) => (p && typeof p === 'object' ? (p as { via?: unknown }).via : undefined)) : [];
  };
  const viaTemplates = viasOf(raw);
  viasOf(expanded).forEach((via, i) => {
    if (typeof via === 'string') rememberUrlSecrets(via, typeof viaTemplates[i] === 'string' ? (viaTemplates[i] as string) : '', env);
  });
}

const mask = (secret: string) => (PLACEHOLDER.test(secret) ? secret : MASK);

/** `text` with every known and every positional secret replaced by `***`. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const secret of knownSorted) if (out.includes(secret)) out = out.split(secret).join(MASK);
  return out
    .replace(KEY_VALUE, (_, before: string, key: string, eq: string, value: string) => `${before}${key}${eq}${mask(unquote(value))}`)
    .replace(
      QUOTED_PROPERTY,
      (_, before: string, q: string, key: string, colon: string, vq: string, value: string) =>
        `${before}${q}${key}${q}${colon}${vq}${mask(value)}${vq}`,
    )
    .replace(USERINFO, (_, scheme: string, user: string, password: string) => `${scheme}${user}:${mask(password)}@`);
}

/** A connection URL fit for a message: the same masking, named for what callers hold. */
export const redactUrl = redactSecrets;
