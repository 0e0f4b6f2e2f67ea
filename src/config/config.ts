/**
 * The config contract (docs/config.md): a JSON file, `${VAR}`
 * expanded from the environment, validated with zod. Every problem is one line naming
 * the key and the fix; exit code 2 by way of ConfigError.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type * as Zod from 'zod';
import { DIALECT_NAMES, type DialectName } from '../core/dialect.ts';
import { ConfigError } from '../core/errors.ts';
import { CHANGE_LOG_DIALECTS } from '../dialects/change-log-brands.ts';
import { lazyRequire } from '../core/lazy-require.ts';
import { rememberConfigSecrets } from '../core/redact.ts';

const lazyZod = lazyRequire<typeof Zod>('zod');

export const CONFLICT_POLICIES = ['latest-wins', 'source-wins', 'target-wins', 'manual'] as const;
export type ConflictPolicy = (typeof CONFLICT_POLICIES)[number];

/** How a table's changes reach the outbox (docs/capture-modes.md). */
export const CAPTURE_MODES = ['trigger', 'api', 'query', 'keys', 'log'] as const;
export type CaptureMode = (typeof CAPTURE_MODES)[number];

/** Defaults of a query-mode table's keys (docs/capture-modes.md#query). */
export const QUERY_CAPTURE_DEFAULTS = {
  /** The table's own column that the application sets on every insert and update. */
  updateTimeColumn: 'update_datetime',
  /** A pass re-reads rows this far below the newest update time it saw: commits that land out of time order. */
  overlapSeconds: 60,
  /** Every Nth pass also scans the whole table against its shadow: deletes, and updates the time window missed. */
  deleteScanEvery: 10,
} as const;

/** The zod schema of the file, built on first use (zod loads only when a config is read). */
let builtSchema: ReturnType<typeof buildSchema> | undefined;
function configSchema() {
  return (builtSchema ??= buildSchema(lazyZod().z));
}

function buildSchema(z: typeof Zod.z) {
  const name = z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, _ . or -');

  const nodeSchema = z.strictObject({
    dialect: z.enum(DIALECT_NAMES),
    url: z.string().min(1),
    serverId: z.string().min(1).max(64),
    /** Per-table override of the table's capture mode on this node. */
    capture: z.record(z.string().min(1), z.enum(CAPTURE_MODES)).optional(),
    /** The node only sends: its capture keeps no version store, and nothing is sent to it. */
    sendOnly: z.boolean().optional(),
    /** The node only receives, from one upstream that imports nothing: nothing is captured there, its import writes no version entries. */
    receiveOnly: z.boolean().optional(),
    /** A receive-only node's transport applies what arrives to its tables itself; the inbox holds only what must wait. */
    directApply: z.boolean().optional(),
  });

  /** A plain string is a table with the default policy. */
  const tableSchema = z.preprocess(
    (value) => (typeof value === 'string' ? { name: value } : value),
    z.strictObject({
      name: z.string().min(1),
      conflict: z.enum(CONFLICT_POLICIES).default('latest-wins'),
      capture: z.enum(CAPTURE_MODES).default('trigger'),
      updateTimeColumn: z.string().min(1).optional(),
      overlapSeconds: z.number().nonnegative().optional(),
      deleteScanEvery: z.number().int().positive().optional(),
    }),
  );

  const natsUrl = z.string().regex(/^(nats|tls):\/\/[^\s]+$/, 'use nats://HOST:PORT (or tls://HOST:PORT)');
  const programSchema = z.strictObject({
    id: z.number().int().positive(),
    type: z.enum(['transport', 'import']),
    name: z.string().optional(),
    from: name.optional(),
    to: name.optional(),
    node: name.optional(),
    intervalSeconds: z.number().positive().default(5),
    batchSize: z.number().int().positive().max(100_000).default(1000),
    failAfterSeconds: z.number().positive().optional(),
    paused: z.boolean().optional(),
    via: natsUrl.optional(),
  });

  const timing = {
    intervalSeconds: z.number().positive().default(5),
    batchSize: z.number().int().positive().max(100_000).default(1000),
    failAfterSeconds: z.number().positive().optional(),
    /** Both transports of the link go through NATS JetStream (docs/nats.md). */
    via: natsUrl.optional(),
  };
  /** Shorthand for programs: a pair both ways, or a hub with spokes (each spoke both ways with the hub). */
  const linkSchema = z.union([
    z.strictObject({ between: z.tuple([name, name]), ...timing }),
    z.strictObject({ hub: name, spokes: z.array(name).min(1), ...timing }),
  ]);

  return z.strictObject({
    nodes: z.record(name, nodeSchema).refine((n) => Object.keys(n).length > 0, 'define at least one node'),
    tables: z.array(tableSchema).min(1, 'list at least one table to synchronize'),
    programs: z.array(programSchema).default([]),
    links: z.array(linkSchema).default([]),
    retention: z.strictObject({ purgeIntervalSeconds: z.number().positive().default(3600) }).optional(),
    http: z.strictObject({ port: z.number().int().min(0).max(65535).optional(), host: z.string().min(1).optional() }).optional(),
    nats: z
      .strictObject({
        maxAgeSeconds: z.number().positive().default(NATS_DEFAULTS.maxAgeSeconds),
        duplicateWindowSeconds: z.number().positive().default(NATS_DEFAULTS.duplicateWindowSeconds),
        ackWaitSeconds: z.number().positive().default(NATS_DEFAULTS.ackWaitSeconds),
        replicas: z.number().int().min(1).max(5).default(NATS_DEFAULTS.replicas),
        streamPrefix: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/, 'use letters, digits, _ or -')
          .default(NATS_DEFAULTS.streamPrefix),
        subjectPrefix: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/, 'use letters, digits, _ or -')
          .default(NATS_DEFAULTS.subjectPrefix),
      })
      .optional(),
    generatedDir: z.string().optional(),
  });
}

export interface NodeConfig {
  name: string;
  dialect: DialectName;
  url: string;
  serverId: string;
  /** Tables whose capture mode differs on this node from the table's own (`nodes.<n>.capture`). */
  capture?: Record<string, CaptureMode>;
  /**
   * The node only sends (`nodes.<n>.sendOnly`): its capture writes no version entries and its outbox rows carry
   * no causal length or clock, so each arrives as the newest change of its row (docs/convergence.md#send-only-nodes).
   * No program sends to it or imports into it.
   */
  sendOnly?: boolean;
  /**
   * The node only receives (`nodes.<n>.receiveOnly`), a replica: one upstream node that imports nothing feeds it,
   * nothing is captured there, and its import writes no version entries, so each change applies in arrival order
   * (docs/convergence.md#receive-only-nodes). No program sends from it.
   */
  receiveOnly?: boolean;
  /**
   * The transport into this node applies each batch to its tables itself, in the
   * transaction that moves the node's own record of what arrived (`nodes.<n>.directApply`): no inbox
   * write and read. A batch that would park, log a conflict or fail goes into the inbox as before, and
   * nothing is applied directly while the inbox holds changes not yet imported
   * (docs/convergence.md#direct-apply).
   */
  directApply?: boolean;
}

export interface TableConfig {
  name: string;
  conflict: ConflictPolicy;
  /** On every node unless the node overrides it; absent is trigger. */
  capture?: CaptureMode;
  /** Capture mode query: the column holding each row's last update time (default `update_datetime`). */
  updateTimeColumn?: string;
  /** Capture mode query: how far below its watermark a pass reads again (default 60 s). */
  overlapSeconds?: number;
  /** Capture mode query: every Nth pass also looks for deletes (default 10). */
  deleteScanEvery?: number;
}

interface ProgramBase {
  id: number;
  name: string;
  intervalSeconds: number;
  batchSize: number;
  /** How long a program may keep failing before /healthz says 503 (default: failAfterDefault). */
  failAfterSeconds: number;
  /** `dsync run` leaves it alone (its backlog still shows): stopping one program without editing the others. */
  paused?: boolean;
}

/** One failed pass is not an outage: three intervals and half a minute of retries first. */
export const failAfterDefault = (intervalSeconds: number) => 3 * intervalSeconds + 30;

/** Moves outbox rows of `from` into the inbox of `to` (the seed's program 1000). */
export interface TransportProgram extends ProgramBase {
  type: 'transport';
  from: string;
  to: string;
  /** `nats://HOST:PORT`: through NATS JetStream in two halves (publish at `from`, deliver at `to`; docs/nats.md) instead of directly. */
  via?: string;
}

/** Merges the inbox of `node` into its tables (the seed's program 1001). */
export interface ImportProgram extends ProgramBase {
  type: 'import';
  node: string;
}

export type ProgramConfig = TransportProgram | ImportProgram;

/** The node whose ds_program_parameter row holds the program's pointer. */
export function programHome(program: ProgramConfig): string {
  return program.type === 'transport' ? program.from : program.node;
}

/** JetStream settings shared by every program with `via` (docs/nats.md). */
export interface NatsSettings {
  /** How long the stream keeps a message (limits retention): a destination offline longer loses changes. */
  maxAgeSeconds: number;
  /** JetStream's Nats-Msg-Id duplicate window: a resend within it is dropped by the server. */
  duplicateWindowSeconds: number;
  /** A delivered message not acknowledged within this is delivered again. */
  ackWaitSeconds: number;
  replicas: number;
  /** Streams are `<streamPrefix>_<source node>`; subjects `<subjectPrefix>.<source node>.<table>`. */
  streamPrefix: string;
  subjectPrefix: string;
}

export const NATS_DEFAULTS: NatsSettings = {
  maxAgeSeconds: 7 * 24 * 3600,
  duplicateWindowSeconds: 120,
  ackWaitSeconds: 30,
  replicas: 1,
  streamPrefix: 'DSYNC',
  subjectPrefix: 'dsync',
};

export interface Config {
  /** Absolute path of the file, or null for configs built in code (the demo). */
  path: string | null;
  nodes: Record<string, NodeConfig>;
  tables: TableConfig[];
  programs: ProgramConfig[];
  /** The daemon's HTTP server: loopback unless the config names another address. */
  http: { port: number; host: string };
  /** How often the daemon purges consumed outbox and inbox rows (`dsync purge`). */
  retention: { purgeIntervalSeconds: number };
  /** Absent in configs built in code: NATS_DEFAULTS apply. */
  nats?: NatsSettings;
  /** Absolute directory of generated SQL. */
  generatedDir: string;
}

function expandEnv(value: unknown, path: string, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, variable: string) => {
      const found = env[variable];
      if (found === undefined) {
        throw new ConfigError('config_env', `config ${path}: environment variable ${variable} is not set`, {
          hint: `export ${variable}=… before running dsync, or write the value in the file`,
        });
      }
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, `${path}[${i}]`, env));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, path ? `${path}.${k}` : k, env)]));
  }
  return value;
}

function fail(key: string, message: string, hint?: string): never {
  throw new ConfigError('config_invalid', `config ${key}: ${message}`, { hint });
}

/**
 * Validates a config object (the JSON of a config file, or one built in code) and
 * expands `${VAR}` from `env` (default process.env). `baseDir` anchors relative paths
 * (SQLite files, generatedDir, default `generated/`); `filePath` is only for messages
 * (null for configs built in code). Invalid input throws a ConfigError.
 */
export function parseConfig(raw: unknown, baseDir: string, filePath: string | null, env = process.env): Config {
  const expanded = expandEnv(raw, '', env);
  // Before validation: from here on no output of this process may show a node's password.
  rememberConfigSecrets(raw, expanded, env);
  const result = configSchema().safeParse(expanded);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = issue.path.map(String).join('.') || '(top level)';
    fail(key, issue.message);
  }
  const data = result.data;
  const nodes: Record<string, NodeConfig> = {};
  const serverIds = new Map<string, string>();
  for (const [nodeName, node] of Object.entries(data.nodes)) {
    const other = serverIds.get(node.serverId);
    if (other) fail(`nodes.${nodeName}.serverId`, `"${node.serverId}" is also the serverId of ${other}; each node needs its own`);
    serverIds.set(node.serverId, nodeName);
    // A url without a scheme is a file (SQLite): relative to the config file, not the working directory.
    const isFile = !/^[a-z][a-z0-9+.-]*:\/\//i.test(node.url) && node.url !== ':memory:';
    const url = isFile && !isAbsolute(node.url) ? resolve(baseDir, node.url) : node.url;
    if (node.sendOnly && node.receiveOnly) {
      fail(
        `nodes.${nodeName}.receiveOnly`,
        'a node cannot be both sendOnly and receiveOnly; keep the one it is, or neither for a node that does both',
      );
    }
    if (node.directApply && node.sendOnly) {
      fail(
        `nodes.${nodeName}.directApply`,
        `a sendOnly node receives nothing to apply; remove "directApply" from nodes.${nodeName}, or "sendOnly" if it should receive`,
        'see docs/convergence.md#direct-apply',
      );
    }
    if (node.receiveOnly && node.capture) {
      fail(`nodes.${nodeName}.capture`, `a receiveOnly node captures nothing; remove nodes.${nodeName}.capture`);
    }
    nodes[nodeName] = {
      name: nodeName,
      dialect: node.dialect,
      url,
      serverId: node.serverId,
      ...(node.sendOnly ? { sendOnly: true } : {}),
      ...(node.receiveOnly ? { receiveOnly: true } : {}),
      ...(node.directApply ? { directApply: true } : {}),
    };
  }
  const seenTables = new Set<string>();
  const tables: TableConfig[] = data.tables.map((t, i) => {
    if (seenTables.has(t.name)) fail(`tables[${i}]`, `table ${t.name} is listed twice`);
    seenTables.add(t.name);
    return {
      name: t.name,
      conflict: t.conflict,
      capture: t.capture,
      ...(t.updateTimeColumn === undefined ? {} : { updateTimeColumn: t.updateTimeColumn }),
      ...(t.overlapSeconds === undefined ? {} : { overlapSeconds: t.overlapSeconds }),
      ...(t.deleteScanEvery === undefined ? {} : { deleteScanEvery: t.deleteScanEvery }),
    };
  });
  for (const [nodeName, node] of Object.entries(data.nodes)) {
    if (!node.capture) continue;
    const overrides: Record<string, CaptureMode> = {};
    for (const [table, mode] of Object.entries(node.capture)) {
      const key = `nodes.${nodeName}.capture.${table}`;
      if (!seenTables.has(table)) fail(key, `unknown table "${table}"; tables are ${[...seenTables].join(', ')}`);
      overrides[table] = mode;
    }
    nodes[nodeName].capture = overrides;
  }
  checkLogCapture(nodes, tables);
  const seenIds = new Set<number>();
  const programs = data.programs.map((p, i): ProgramConfig => {
    const key = `programs[${i}]`;
    if (seenIds.has(p.id)) fail(`${key}.id`, `program id ${p.id} is used twice`);
    seenIds.add(p.id);
    const known = (field: string, value: string | undefined) => {
      if (!value) fail(`${key}.${field}`, `a ${p.type} program needs "${field}"`);
      if (!nodes[value]) fail(`${key}.${field}`, `unknown node "${value}"; nodes are ${Object.keys(nodes).join(', ')}`);
      return value;
    };
    if (p.type === 'transport') {
      const from = known('from', p.from);
      const to = known('to', p.to);
      if (from === to) fail(`${key}.to`, 'a transport program needs two different nodes');
      const transport: TransportProgram = {
        id: p.id,
        type: p.type,
        name: p.name ?? `transport ${from} -> ${to}${p.via ? ' via NATS' : ''}`,
        from,
        to,
        intervalSeconds: p.intervalSeconds,
        batchSize: p.batchSize,
        failAfterSeconds: p.failAfterSeconds ?? failAfterDefault(p.intervalSeconds),
        ...(p.paused ? { paused: true } : {}),
      };
      if (p.via) transport.via = p.via;
      return transport;
    }
    if (p.via) fail(`${key}.via`, 'only a transport program goes via NATS', 'move "via" to the transport program that feeds this node');
    const node = known('node', p.node);
    return {
      id: p.id,
      type: p.type,
      name: p.name ?? `import ${node}`,
      node,
      intervalSeconds: p.intervalSeconds,
      batchSize: p.batchSize,
      failAfterSeconds: p.failAfterSeconds ?? failAfterDefault(p.intervalSeconds),
      ...(p.paused ? { paused: true } : {}),
    };
  });
  programs.push(...expandLinks(data.links, programs, nodes));
  checkSendOnly(nodes, programs, data.programs.length);
  checkReceiveOnly(nodes, programs, data.programs.length);
  checkDirectApply(nodes, programs, data.programs.length);
  return {
    path: filePath,
    nodes,
    tables,
    programs,
    http: { port: data.http?.port ?? 9464, host: data.http?.host ?? '127.0.0.1' },
    retention: { purgeIntervalSeconds: data.retention?.purgeIntervalSeconds ?? 3600 },
    nats: data.nats ?? { ...NATS_DEFAULTS },
    generatedDir: resolve(baseDir, data.generatedDir ?? 'generated'),
  };
}

/** The config key that names `program`: its `programs[i]` entry, or `links` for one a link made (they come after the `listed` ones). */
function programKey(programs: ProgramConfig[], listed: number): (program: ProgramConfig) => string {
  return (program) => {
    const i = programs.indexOf(program);
    return i < listed ? `programs[${i}]` : 'links';
  };
}

/** A send-only node's capture keeps no versions: a change merged into it could not be ordered against its own (docs/convergence.md#send-only-nodes). */
function checkSendOnly(nodes: Record<string, NodeConfig>, programs: ProgramConfig[], listed: number): void {
  const keyOf = programKey(programs, listed);
  for (const program of programs) {
    const into = program.type === 'transport' ? program.to : program.node;
    if (!nodes[into].sendOnly) continue;
    fail(
      keyOf(program),
      `${program.type === 'transport' ? 'transport program' : 'import program'} ${program.id} ${program.type === 'transport' ? 'sends to' : 'imports into'} node ${into}, which is sendOnly; remove the program (or link), or remove "sendOnly" from nodes.${into}, regenerate and apply`,
      'a node that receives keeps versions: see docs/convergence.md#send-only-nodes',
    );
  }
}

/**
 * A receive-only node keeps no versions, so arrival order must be the order its rows were written in:
 * nothing leaves it, and one upstream feeds it whose outbox holds only its own captures, in commit
 * order per row (docs/convergence.md#receive-only-nodes).
 */
function checkReceiveOnly(nodes: Record<string, NodeConfig>, programs: ProgramConfig[], listed: number): void {
  const keyOf = programKey(programs, listed);
  const why = 'see docs/convergence.md#receive-only-nodes';
  for (const node of Object.values(nodes)) {
    if (!node.receiveOnly) continue;
    const name = node.name;
    const transports = programs.filter((p) => p.type === 'transport');
    const out = transports.find((p) => p.from === name);
    if (out)
      fail(
        keyOf(out),
        `transport program ${out.id} sends from node ${name}, which is receiveOnly; remove the program (or link), or remove "receiveOnly" from nodes.${name}`,
        why,
      );
    const upstreams = [...new Set(transports.filter((p) => p.to === name).map((p) => p.from))];
    if (upstreams.length > 1) {
      fail(
        `nodes.${name}.receiveOnly`,
        `node ${name} is receiveOnly but nodes ${upstreams.join(' and ')} send to it; feed it from one node, or remove "receiveOnly"`,
        why,
      );
    }
    const upstream = upstreams[0];
    if (upstream === undefined) continue;
    const into = programs.find((p) => (p.type === 'transport' ? p.to : p.node) === upstream);
    if (into) {
      fail(
        keyOf(into),
        `node ${name} is receiveOnly, and its upstream ${upstream} ${into.type === 'transport' ? `receives from ${into.from}` : 'imports'} (program ${into.id}); feed ${name} from a node that imports nothing, or remove "receiveOnly" from nodes.${name}`,
        why,
      );
    }
  }
}

/**
 * A directApply node's transport applies changes itself, and its import takes what must wait (parks,
 * conflicts): so its changes come by one direct transport (the inbox, which dedupes a change that comes
 * by two paths, is skipped), and an import program runs there.
 */
function checkDirectApply(nodes: Record<string, NodeConfig>, programs: ProgramConfig[], listed: number): void {
  for (const { name, directApply } of Object.values(nodes))
    if (directApply) checkDirectApplyNode(name, programs, programKey(programs, listed));
}

function checkDirectApplyNode(name: string, programs: ProgramConfig[], keyOf: (program: ProgramConfig) => string): void {
  const why = 'see docs/convergence.md#direct-apply';
  const into = programs.filter((p) => p.type === 'transport' && p.to === name);
  const viaNats = into.find((p) => p.type === 'transport' && p.via);
  if (viaNats)
    fail(
      keyOf(viaNats),
      `transport program ${viaNats.id} reaches directApply node ${name} through NATS, which delivers into the inbox; remove "via" from it, or remove "directApply" from nodes.${name}`,
      why,
    );
  if (into.length > 1)
    fail(
      `nodes.${name}.directApply`,
      `node ${name} is directApply and transport programs ${into.map((p) => p.id).join(' and ')} send to it; keep one, or remove "directApply"`,
      why,
    );
  if (!programs.some((p) => p.type === 'import' && p.node === name))
    fail(
      `nodes.${name}.directApply`,
      `node ${name} is directApply but no import program runs there to take the changes that must wait; add an import program for ${name} (or a link to it)`,
      why,
    );
}

/** Mode log reads PostgreSQL's logical decoding: a node of another brand keeps its triggers for that table. */
function checkLogCapture(nodes: Record<string, NodeConfig>, tables: TableConfig[]): void {
  for (const node of Object.values(nodes)) {
    if (CHANGE_LOG_DIALECTS.includes(node.dialect)) continue;
    for (const [i, table] of tables.entries()) {
      if (captureMode({ nodes, tables }, node.name, table.name) !== 'log') continue;
      const key = node.capture?.[table.name] ? `nodes.${node.name}.capture.${table.name}` : `tables[${i}].capture`;
      fail(
        key,
        `capture mode log reads PostgreSQL's change log, and node ${node.name} is ${node.dialect}; set "nodes.${node.name}.capture": { "${table.name}": "trigger" } (or api) for it`,
        'see docs/capture-modes.md#log',
      );
    }
  }
}

/** A table's capture mode on a node: the node's override, else the table's mode, else trigger. */
export function captureMode(config: Pick<Config, 'nodes' | 'tables'>, nodeName: string, tableName: string): CaptureMode {
  // A receive-only node captures nothing: no triggers, no pass (capture_none, as mode api).
  if (config.nodes[nodeName]?.receiveOnly) return 'api';
  const override = config.nodes[nodeName]?.capture?.[tableName];
  if (override) return override;
  return config.tables.find((t) => t.name === tableName)?.capture ?? 'trigger';
}

/** A query-mode table's settings, defaults filled in. */
export function queryCaptureSettings(config: Pick<Config, 'tables'>, tableName: string) {
  const table = config.tables.find((t) => t.name === tableName);
  return {
    updateTimeColumn: table?.updateTimeColumn ?? QUERY_CAPTURE_DEFAULTS.updateTimeColumn,
    overlapSeconds: table?.overlapSeconds ?? QUERY_CAPTURE_DEFAULTS.overlapSeconds,
    deleteScanEvery: table?.deleteScanEvery ?? QUERY_CAPTURE_DEFAULTS.deleteScanEvery,
  };
}

type LinkEntry = ({ between: [string, string] } | { hub: string; spokes: string[] }) & {
  intervalSeconds: number;
  batchSize: number;
  failAfterSeconds?: number;
  via?: string;
};

/**
 * `links` as programs, numbered after the explicit ones (from 1000 when there are none):
 * each direction gets a transport, then its destination an import unless it has one.
 * `{ "between": ["a", "b"] }` is the seed's 1000 (a→b), 1001 (import b), 1002 (b→a), 1003 (import a).
 */
function expandLinks(links: LinkEntry[], explicit: ProgramConfig[], nodes: Record<string, NodeConfig>): ProgramConfig[] {
  const out: ProgramConfig[] = [];
  let next = Math.max(999, ...explicit.map((p) => p.id)) + 1;
  const all = () => [...explicit, ...out];
  links.forEach((link, i) => {
    const names = 'between' in link ? link.between : [link.hub, ...link.spokes];
    for (const n of names) if (!nodes[n]) fail(`links[${i}]`, `unknown node "${n}"; nodes are ${Object.keys(nodes).join(', ')}`);
    const timing = {
      intervalSeconds: link.intervalSeconds,
      batchSize: link.batchSize,
      failAfterSeconds: link.failAfterSeconds ?? failAfterDefault(link.intervalSeconds),
    };
    const pairs: Array<[string, string]> = 'between' in link ? [link.between] : link.spokes.map((s) => [link.hub, s]);
    for (const [a, b] of pairs) {
      if (a === b) fail(`links[${i}]`, `a link needs two different nodes, not ${a} twice`);
      for (const [from, to] of [
        [a, b],
        [b, a],
      ]) {
        if (all().some((p) => p.type === 'transport' && p.from === from && p.to === to)) {
          fail(`links[${i}]`, `transport ${from} -> ${to} is defined twice`, 'keep it in links or in programs, not both');
        }
        out.push({
          id: next++,
          type: 'transport',
          name: `transport ${from} -> ${to}${link.via ? ' via NATS' : ''}`,
          from,
          to,
          ...timing,
          ...(link.via ? { via: link.via } : {}),
        });
        if (!all().some((p) => p.type === 'import' && p.node === to)) {
          out.push({ id: next++, type: 'import', name: `import ${to}`, node: to, ...timing });
        }
      }
    }
  });
  return out;
}

/** Reads and validates the config file at `path` (see {@link parseConfig}); relative paths in it resolve beside it. */ export function loadConfigFile(
  path: string,
  env = process.env,
): Config {
  if (!existsSync(path)) {
    throw new ConfigError('config_missing', `no config file at ${path}`, {
      hint: 'run `dsync init` to write a starter config, or pass --config FILE',
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError('config_json', `config ${path} is not valid JSON: ${(error as Error).message}`, {
      hint: 'fix the JSON syntax (a trailing comma or a missing quote is the usual cause)',
    });
  }
  return parseConfig(raw, dirname(resolve(path)), resolve(path), env);
}

export function getNode(config: Config, nodeName: string): NodeConfig {
  const node = config.nodes[nodeName];
  if (!node) {
    throw new ConfigError('unknown_node', `unknown node "${nodeName}"`, {
      hint: `nodes in the config: ${Object.keys(config.nodes).join(', ')}`,
    });
  }
  return node;
}

export function getProgram(config: Config, id: number): ProgramConfig {
  const program = config.programs.find((p) => p.id === id);
  if (!program) {
    const ids = config.programs.map((p) => p.id).join(', ') || 'none';
    throw new ConfigError('unknown_program', `unknown program id ${id}`, { hint: `programs in the config: ${ids}` });
  }
  return program;
}
