/**
 * PostgreSQL connection on `pg`, behind the DbClient port. Loaded only when a
 * postgres node is used. Values that lose precision or depend on session settings
 * in JavaScript (int8, numeric, dates, times, json) come back as the server's text.
 */
import type pg from 'pg';
import { type ConnectionError, redactUrl, TransientError } from '../../core/errors.ts';
import {
  type ConnectProblem,
  type ConnectTarget,
  explainConnectError as explainCommon,
  noSuchDatabase,
  unreachable,
  UNREACHABLE_CODES,
} from '../../core/connect-error.ts';
import type { DbClient, Dialect, QueryResult, Row } from '../../core/dialect.ts';
import { bracketed } from './postgres-sql.ts';
import { runTransaction, savepointName, type TransactionPrimitives } from '../../core/transaction.ts';

/** OIDs read as text: int8, numeric, date, time, timestamp, timestamptz, timetz, interval, json, jsonb. */
const TEXT_OIDS = new Set([20, 1700, 1082, 1083, 1114, 1184, 1266, 1186, 114, 3802]);

/**
 * A value in PostgreSQL's text output (logical decoding hands them out so) as this driver
 * returns it from a SELECT on a dsync connection: one value, one canonical form either way.
 */
export async function postgresTextParser(): Promise<(oid: number, text: string) => unknown> {
  const { default: driver } = await import('pg');
  return (oid, text) => (TEXT_OIDS.has(oid) ? text : driver.types.getTypeParser(oid, 'text')(text));
}

// SQLSTATE codes we explain to people (https://www.postgresql.org/docs/current/errcodes-appendix.html)
const INVALID_PASSWORD = '28P01';
const INVALID_AUTHORIZATION = '28000';
const INVALID_CATALOG_NAME = '3D000';

/** Connections whose socket ended or failed: every later statement fails as transient. */
const lostClients = new WeakSet<pg.Client>();

export function watchConnection(client: pg.Client): void {
  client.on('error', () => lostClients.add(client)); // a dropped idle connection surfaces on the next query instead
  client.on('end', () => lostClients.add(client));
}

/** A cached plan whose result columns changed (ALTER TABLE … TYPE since the statement was prepared). */
const CACHED_PLAN_CHANGED = '0A000';

/** Named statements on one connection at most; beyond, statements go unnamed (parsed and planned each time). */
const MAX_NAMED = 256;

/**
 * Statements with more parameters are never named. After five runs PostgreSQL may keep a generic
 * plan, estimated without the values. For `table_name = $1 AND row_key IN ($2, …)` with 64 or more
 * keys, that plan scans every entry of the table and filters the list: 118 ms for 64 keys and
 * 814 ms for 1,000 in a 40,000-entry store, where the custom plan takes under a millisecond. With
 * 16 keys the generic plan still probes the index. The load and the import's large batches send
 * such lists; a change that comes alone sends one key (docs/performance.md, "8. Load").
 */
const MAX_NAMED_PARAMETERS = 16;

/**
 * Parameterized statements a connection sends again and again are named (prepared once per
 * connection: parsed and planned once; https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY):
 * a text gets its name the second time it is seen, so one-off texts (a batch of unusual size)
 * do not pile up on the server. Planning the import's locked read of rows and entries costs more
 * than running it. Session state, like the connection's other settings (dsync needs session pooling).
 */
class StatementNames {
  private readonly names = new Map<string, string>();
  private readonly seenOnce = new Set<string>();
  private next = 0;

  nameOf(text: string, parameterCount: number): string | undefined {
    if (parameterCount > MAX_NAMED_PARAMETERS) return undefined;
    const known = this.names.get(text);
    if (known !== undefined) return known;
    if (this.seenOnce.delete(text) && this.names.size < MAX_NAMED) {
      const name = `ds_${++this.next}`;
      this.names.set(text, name);
      return name;
    }
    if (this.seenOnce.size >= 4 * MAX_NAMED) this.seenOnce.clear();
    this.seenOnce.add(text);
    return undefined;
  }

  /** The statement's plan cannot serve any more (CACHED_PLAN_CHANGED): the text goes unnamed, then gets a new name. */
  forget(text: string): void {
    this.names.delete(text);
  }
}

const statementNames = new WeakMap<pg.Client, StatementNames>();

/**
 * Each connection's last statement asked for (PostgresClient.inTurn): the next one is handed to pg
 * once it has settled, so pg holds none waiting behind the one it runs (but for the moment between a
 * failed statement's error, where pg settles it, and the server's ReadyForQuery after it, when the
 * next may wait in pg's queue alone, which pg allows without a word). dsync asks for two at once on
 * purpose: a transport reads its next batch ahead on the source's connection and saves the source's
 * pointer on it meanwhile (transport.ts readAhead). pg queues such a query, but warns once two wait
 * ("DeprecationWarning: Calling client.query() when the client is already executing a query"), and
 * its message says pg 9 removes the queue: the order is kept here instead, as pg's message asks.
 */
const lastAsked = new WeakMap<pg.Client, Promise<unknown>>();
const ignore = () => undefined;

/**
 * An outermost transaction's state on the client side: its BEGIN not sent yet (it goes with the
 * first statement, PostgresClient.transaction), and writes deferred to the next statement
 * (PostgresClient.defer).
 */
interface PendingBegin {
  pending: boolean;
  deferred: PipelinedStatement[];
}

/** What a transaction still has to send (its BEGIN, its deferred writes), then `after`: taken, so sent once. */
function takePending(state: PendingBegin, ...after: PipelinedStatement[]): PipelinedStatement[] {
  const statements = [...(state.pending ? [{ text: 'BEGIN', values: [] }] : []), ...state.deferred, ...after];
  state.pending = false;
  state.deferred = [];
  return statements;
}

/**
 * A parameter that is a flat array of texts and numbers as the literal pg's arrayString makes of
 * it (`{"a","b\"c",NULL}`), its elements joined once: pg appends them one by one, and the import's
 * key arrays (thousands of keys, DialectSql.inArray) made that a large part of its garbage. Any
 * other array (nested, of Buffers, Dates, booleans) is left to pg.
 */
export function arrayLiteral(values: readonly unknown[]): string | null {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    let text: string;
    if (typeof v === 'string') text = v;
    else if (typeof v === 'number' || typeof v === 'bigint') text = v.toString();
    else if (v === null || v === undefined) {
      parts[i] = 'NULL';
      continue;
    } else return null;
    parts[i] = `"${ESCAPED_IN_ARRAY.test(text) ? text.replace(ESCAPED_IN_ARRAYS, '\\$&') : text}"`;
  }
  return bracketed(parts, '{', '}');
}

const ESCAPED_IN_ARRAY = /[\\"]/;
const ESCAPED_IN_ARRAYS = /[\\"]/g;

/** `params` with each flat array of texts and numbers as its literal (arrayLiteral); the same array when there is none. */
function withArrayLiterals(params: readonly unknown[]): readonly unknown[] {
  let out: unknown[] | null = null;
  for (let i = 0; i < params.length; i++) {
    const v = params[i];
    if (!Array.isArray(v)) continue;
    const text = arrayLiteral(v);
    if (text === null) continue;
    out ??= params.slice();
    out[i] = text;
  }
  return out ?? params;
}

/** One statement of a pipeline: its text and bound parameters. */
export interface PipelinedStatement {
  text: string;
  values: readonly unknown[];
}

/**
 * Statements in one round trip with their parameters bound: Parse, Bind, Describe and Execute
 * of each, one Sync at the end (the extended protocol's pipelining,
 * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-PIPELINING). node-pg
 * sends one statement per Sync, so this is a Submittable of its own, as COPY's is. The results
 * come in order, parsed by the client's type parsers as pg's own Result parses them. The first
 * error ends it (the server skips the rest to the Sync; inside a transaction block, the block is
 * aborted) and is what the promise rejects with. A statement (but BEGIN and COMMIT) is named as `query`
 * names one with parameters (StatementNames: parsed and planned once per connection, shared with pg's own prepared
 * statements); a name counts as prepared once its pipeline succeeded. After a failure, the texts
 * first named in it, and the one that failed with CACHED_PLAN_CHANGED, get new names next time.
 */
export async function pipeline(client: pg.Client, statements: readonly PipelinedStatement[]): Promise<pg.QueryResult[]> {
  const { default: driver } = await import('pg');
  // pg's own mapping of a parameter to the protocol's text (Date, Buffer, arrays, JSON), as its Query binds them.
  const { prepareValue } = (driver as unknown as { utils: { prepareValue(v: unknown): unknown } }).utils;
  // Values are turned into the protocol's text first: one that cannot be (a cyclic object) fails before anything is sent.
  let names = statementNames.get(client);
  if (!names) statementNames.set(client, (names = new StatementNames()));
  const known = names;
  const bound = statements.map((s) => ({
    text: s.text,
    values: s.values.map((v) => prepareValue(v)),
    // Statements without parameters too (the import's parked-set read comes again and again): not BEGIN and COMMIT.
    name: s.text === 'BEGIN' || s.text === 'COMMIT' ? undefined : known.nameOf(s.text, s.values.length),
  }));
  /** Named statements this pipeline parses (their names count once it has succeeded). */
  const fresh: typeof bound = [];
  const types = { getTypeParser: (oid: number, format?: string) => client.getTypeParser(oid, format as 'text') };
  interface PipelineConnection {
    parse(m: { text: string; name: string; types: unknown[] }): void;
    bind(m: { portal: string; statement: string; values: unknown[] }): void;
    describe(m: { type: 'P'; name: string }): void;
    execute(m: { portal: string; rows: number }): void;
    sync(): void;
    stream: { cork?(): void; uncork?(): void };
    parsedStatements: Record<string, string>;
  }
  let parsedBy: PipelineConnection | null = null;
  return new Promise<pg.QueryResult[]>((resolve, reject) => {
    type PgResult = pg.QueryResult & {
      addFields(f: unknown[]): void;
      addCommandComplete(m: unknown): void;
      parseRow(f: unknown[]): unknown;
      addRow(r: unknown): void;
    };
    const newResult = () => new (driver.Result as unknown as new (rowMode: undefined, types: unknown) => PgResult)(undefined, types);
    const results: PgResult[] = [];
    let current = newResult();
    let failed = false;
    const submittable = {
      submit: (connection: PipelineConnection) => {
        parsedBy = connection;
        connection.stream.cork?.();
        try {
          for (const s of bound) {
            // A text twice in one pipeline is parsed once.
            if (s.name === undefined || (connection.parsedStatements[s.name] === undefined && !fresh.some((f) => f.name === s.name))) {
              connection.parse({ text: s.text, name: s.name ?? '', types: [] });
              if (s.name !== undefined) fresh.push(s);
            }
            connection.bind({ portal: '', statement: s.name ?? '', values: s.values });
            connection.describe({ type: 'P', name: '' });
            connection.execute({ portal: '', rows: 0 });
          }
          connection.sync();
        } finally {
          connection.stream.uncork?.();
        }
      },
      handleRowDescription: (msg: { fields: unknown[] }) => current.addFields(msg.fields),
      handleDataRow: (msg: { fields: unknown[] }) => current.addRow(current.parseRow(msg.fields)),
      handleCommandComplete: (msg: unknown) => {
        current.addCommandComplete(msg);
        results.push(current);
        current = newResult();
      },
      handleEmptyQuery: () => {
        results.push(current);
        current = newResult();
      },
      // As pg's own Query: an error settles at once (a lost connection sends no ReadyForQuery).
      handleError: (error: unknown) => {
        failed = true;
        for (const s of fresh) known.forget(s.text);
        const failing = bound[results.length];
        if (failing?.name !== undefined && (error as { code?: string }).code === CACHED_PLAN_CHANGED) known.forget(failing.text);
        reject(error);
      },
      handleReadyForQuery: () => {
        if (failed) return;
        for (const s of fresh) if (parsedBy) parsedBy.parsedStatements[s.name!] = s.text;
        resolve(results);
      },
      handlePortalSuspended: () => undefined,
      handleCopyInResponse: (connection: { sendCopyFail(m: string): void }) => connection.sendCopyFail('no COPY in a pipeline'),
      handleCopyData: () => undefined,
    };
    client.query(submittable as unknown as pg.Submittable);
  });
}

/**
 * A deferred write that must touch `rows` rows, checked by the server: a count that differs
 * fails the statement (a cast of the explanation to int, SQLSTATE 22P02), so that a COMMIT sent
 * after it in the same pipeline does not happen.
 */
function checkedWrite(sql: string, rows: number): string {
  return `WITH ds_written AS (${sql} RETURNING 1) SELECT CASE WHEN count(*) = ${rows} THEN 0 ELSE ('dsync: the write touched ' || count(*) || ' rows, not ${rows}')::int END FROM ds_written`;
}

export class PostgresClient implements DbClient {
  private savepoints = 0;

  constructor(
    readonly dialect: Dialect,
    private readonly client: pg.Client,
    private readonly depth = 0,
    private readonly begin: PendingBegin | null = null,
  ) {}

  get sessionId(): number | undefined {
    // pg sets it from the server's BackendKeyData; its type declarations leave it out.
    return (this.client as pg.Client & { processID?: number | null }).processID ?? undefined;
  }

  /**
   * Sends the transaction's BEGIN if it has not gone yet and the deferred writes, with
   * `statement` when given, in one round trip; returns the results of `statement` (or null).
   */
  private async sendPending(statement?: PipelinedStatement): Promise<pg.QueryResult | null> {
    const begin = this.begin;
    if (!begin || (!begin.pending && begin.deferred.length === 0)) return null;
    if (begin.deferred.length === 0 && !statement) {
      begin.pending = false;
      await this.run(() => this.client.query('BEGIN'));
      return null;
    }
    const statements = statement ? takePending(begin, statement) : takePending(begin);
    const results = await this.run(() => pipeline(this.client, statements));
    return statement ? results[results.length - 1] : null;
  }

  /** Sends the transaction's BEGIN and deferred writes if they have not gone yet (before a statement that cannot carry them). */
  private async sendBegin(): Promise<void> {
    await this.sendPending();
  }

  /**
   * Sends `sql` with the connection's next statement (or the COMMIT) in one pipeline, instead of
   * now (DbClient.defer). Only inside a transaction: its failure aborts the transaction, and the
   * statement that carried it throws.
   */
  defer(sql: string, params: readonly unknown[], rows?: number): void {
    if (!this.begin) throw new Error('DbClient.defer outside a transaction');
    this.begin.deferred.push({ text: rows === undefined ? sql : checkedWrite(sql, rows), values: params });
  }

  get lost(): boolean {
    return lostClients.has(this.client);
  }

  /** `statement` once every statement asked for before it on this connection has ended, failed or not (lastAsked). */
  private inTurn<T>(statement: () => Promise<T>): Promise<T> {
    const before = lastAsked.get(this.client);
    const result = before ? before.then(statement) : statement();
    lastAsked.set(this.client, result.then(ignore, ignore));
    return result;
  }

  /** A statement, in turn (inTurn); on a connection that went away it fails with the `connection_lost` code (transient), whatever pg says. */
  private run<T>(statement: () => Promise<T>): Promise<T> {
    return this.inTurn(() => this.attempt(statement));
  }

  private async attempt<T>(statement: () => Promise<T>): Promise<T> {
    if (this.lost) throw new TransientError('connection_lost', 'the PostgreSQL connection was lost', { hint: 'the next pass reconnects' });
    try {
      return await statement();
    } catch (error) {
      if (this.lost)
        throw new TransientError(
          'connection_lost',
          `the PostgreSQL connection was lost: ${(error as Error).message}`,
          { hint: 'the next pass reconnects' },
          { cause: error },
        );
      throw error;
    }
  }

  async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
    if (this.begin && this.begin.deferred.length > 0) {
      // Deferred writes go first, this statement after them, in one round trip.
      const result = (await this.sendPending({ text: sql, values: params }))!;
      return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
    }
    if (this.begin?.pending && params.length === 0) {
      // The transaction's first statement, without parameters: BEGIN goes in the same simple query
      // (one round trip; the block stays open after it, https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-MULTI-STATEMENT).
      this.begin.pending = false;
      const results = (await this.run(() => this.client.query(`BEGIN;\n${sql}`))) as unknown as pg.QueryResult[];
      const result = results[results.length - 1];
      return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
    }
    await this.sendBegin();
    let names = statementNames.get(this.client);
    if (!names) statementNames.set(this.client, (names = new StatementNames()));
    const name = params.length > 0 ? names.nameOf(sql, params.length) : undefined;
    try {
      const values = withArrayLiterals(params) as unknown[];
      const result = await this.run(() => this.client.query({ text: sql, values, ...(name ? { name } : {}) }));
      return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
    } catch (error) {
      if (name && (error as { code?: string }).code === CACHED_PLAN_CHANGED) names.forget(sql);
      throw error;
    }
  }

  /**
   * The statements as one simple query: one round trip (BEGIN rides along when it is
   * pending). Each statement plans and runs after the one before has ended, and in READ
   * COMMITTED takes its own snapshot; outside a transaction block they form one implicit
   * transaction. https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-MULTI-STATEMENT
   */
  async queryMany(statements: readonly string[]): Promise<QueryResult[]> {
    if (this.begin && this.begin.deferred.length > 0) await this.sendPending();
    const begin = this.begin?.pending === true;
    if (begin) this.begin!.pending = false;
    const text = (begin ? ['BEGIN', ...statements] : statements).join(';\n');
    const sent = (await this.run(() => this.client.query(text))) as unknown as pg.QueryResult | pg.QueryResult[];
    const results = (Array.isArray(sent) ? sent : [sent]).slice(begin ? 1 : 0);
    return results.map((r) => ({ rows: r.rows, rowCount: r.rowCount ?? 0 }));
  }

  /** Statements with parameters in one pipeline (DbClient.queryPipelined), after the transaction's pending BEGIN and deferred writes. */
  async queryPipelined(statements: ReadonlyArray<{ sql: string; params: readonly unknown[] }>): Promise<QueryResult[]> {
    const own = statements.map((s) => ({ text: s.sql, values: s.params }));
    const all = this.begin ? takePending(this.begin, ...own) : own;
    const results = await this.run(() => pipeline(this.client, all));
    return results.slice(results.length - own.length).map((r) => ({ rows: r.rows, rowCount: r.rowCount ?? 0 }));
  }

  /** Rows as arrays (pg's `rowMode: 'array'`): no object per row. BEGIN goes on its own here (arrays of a multi-statement query are not worth it). */
  async queryArrays(sql: string, params: readonly unknown[] = []): Promise<unknown[][]> {
    await this.sendBegin();
    const values = withArrayLiterals(params) as unknown[];
    const result = await this.run(() => this.client.query({ text: sql, values, rowMode: 'array' }));
    return result.rows as unknown[][];
  }

  async exec(script: string): Promise<void> {
    await this.sendBegin();
    await this.run(() => this.client.query(script));
  }

  /**
   * `COPY … FROM STDIN` (`sql`) fed with `data`, pieces of COPY's text format (text, or its UTF-8 bytes) made one
   * after the other as the socket takes them (so a batch is never one large string in
   * memory): the fastest way into a table (postgres-bulk.ts). Returns the rows copied. A
   * bare protocol-level Submittable, as pg-copy-streams does it.
   * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-COPY
   */
  async copyFrom(sql: string, data: Iterable<string | Buffer>): Promise<number> {
    await this.sendBegin();
    return this.copyFromStarted(sql, data);
  }

  /** `select`'s rows in COPY's text format, through {@link copyTo}: what a transport reads an outbox batch with (outbox-copy.ts). */
  copyQueryOut(select: string, onData: (bytes: Buffer) => void): Promise<number> {
    return this.copyTo(`COPY (${select}) TO STDOUT`, onData);
  }

  /**
   * `COPY … TO STDOUT` (`sql`): each CopyData message's bytes (COPY's text format, as the
   * server sends them; PostgreSQL sends a row per message) handed to `onData` as it
   * arrives, without a JavaScript value per field. The bytes are the driver's buffer, valid
   * only during the call. Returns the rows copied; a throw of `onData` fails the COPY once
   * the server has ended it. As pg-copy-streams' copy-to does it.
   * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-COPY
   */
  async copyTo(sql: string, onData: (bytes: Buffer) => void): Promise<number> {
    await this.sendBegin();
    return this.run(
      () =>
        new Promise<number>((resolve, reject) => {
          let copied = 0;
          let refused: unknown = null;
          const submittable = {
            submit: (connection: { query(text: string): void }) => connection.query(sql),
            handleCopyData: (msg: { chunk: Buffer }) => {
              if (refused !== null) return;
              try {
                onData(msg.chunk);
              } catch (error) {
                refused = error;
              }
            },
            handleCommandComplete: (msg: { text?: string }) => {
              copied = Number(/(\d+)$/.exec(msg.text ?? '')?.[1] ?? 0);
            },
            // As pg's own Query: an error settles at once (a lost connection sends no ReadyForQuery).
            handleError: (error: unknown) => reject(error),
            handleReadyForQuery: () => (refused !== null ? reject(refused) : resolve(copied)),
            handleCopyInResponse: (connection: { sendCopyFail(m: string): void }) => connection.sendCopyFail('not a COPY FROM'),
            handleRowDescription: () => undefined,
            handleDataRow: () => undefined,
            handleEmptyQuery: () => undefined,
            handlePortalSuspended: () => undefined,
          };
          this.client.query(submittable as unknown as pg.Submittable);
        }),
    );
  }

  private copyFromStarted(sql: string, data: Iterable<string | Buffer>): Promise<number> {
    interface CopyConnection {
      endCopyFrom(): void;
      sendCopyFail(message: string): void;
      stream: NodeJS.WritableStream & { writableNeedDrain?: boolean; writable?: boolean; cork?(): void; uncork?(): void };
    }
    /**
     * One CopyData message: its 5-byte header, then `bytes` as they are, written to the socket
     * as pg's own sendCopyFromChunk does, without the serializer's copy of them into a new buffer.
     * https://www.postgresql.org/docs/current/protocol-message-formats.html (CopyData)
     */
    const sendCopyData = (connection: CopyConnection, bytes: Buffer) => {
      const { stream } = connection;
      if (stream.writable === false) return;
      const header = Buffer.allocUnsafe(5);
      header[0] = 0x64;
      header.writeUInt32BE(4 + bytes.length, 1);
      stream.cork?.();
      stream.write(header);
      stream.write(bytes);
      stream.uncork?.();
    };
    /** A value that could not be written: what the COPY fails with, rather than the server's "COPY from stdin failed". */
    let refused: unknown = null;
    /** The server ended the COPY (an error): the rest of the data is not sent. */
    let ended = false;
    const pump = async (connection: CopyConnection) => {
      try {
        for (const piece of data) {
          if (ended) return;
          sendCopyData(connection, typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece);
          if (connection.stream.writableNeedDrain) await new Promise((resolve) => connection.stream.once('drain', resolve));
        }
        connection.endCopyFrom();
      } catch (error) {
        refused = error;
        connection.sendCopyFail(error instanceof Error ? error.message : String(error));
      }
    };
    return this.run(
      () =>
        new Promise<number>((resolve, reject) => {
          let copied = 0;
          const submittable = {
            submit: (connection: { query(text: string): void }) => connection.query(sql),
            handleCopyInResponse: (connection: CopyConnection) => void pump(connection),
            handleCommandComplete: (msg: { text?: string }) => {
              copied = Number(/(\d+)$/.exec(msg.text ?? '')?.[1] ?? 0);
            },
            // As pg's own Query: an error settles at once (a lost connection sends no ReadyForQuery).
            handleError: (error: unknown) => {
              ended = true;
              reject(refused ?? error);
            },
            handleReadyForQuery: () => resolve(copied),
            handleRowDescription: () => undefined,
            handleDataRow: () => undefined,
            handleEmptyQuery: () => undefined,
            handleCopyData: () => undefined,
            handlePortalSuspended: () => undefined,
          };
          this.client.query(submittable as unknown as pg.Submittable);
        }),
    );
  }

  async transaction<T>(fn: (tx: DbClient) => Promise<T>): Promise<T> {
    const run = async (sql: string) => {
      await this.run(() => this.client.query(sql));
    };
    // The outermost BEGIN waits for the first statement and goes with it where it can (query):
    // a transaction's round trip less. One that ran nothing sends neither BEGIN nor COMMIT.
    // Writes deferred to the end (defer) go in one round trip with the COMMIT.
    const begin: PendingBegin = { pending: false, deferred: [] };
    const primitives: TransactionPrimitives = {
      begin: async () => {
        begin.pending = true;
        begin.deferred = [];
      },
      commit: async () => {
        if (begin.deferred.length > 0) {
          const statements = takePending(begin, { text: 'COMMIT', values: [] });
          await this.run(() => pipeline(this.client, statements));
        } else if (begin.pending) begin.pending = false;
        else await run('COMMIT');
      },
      rollback: () => {
        begin.deferred = [];
        if (begin.pending) {
          begin.pending = false;
          return Promise.resolve();
        }
        return this.inTurn(() => this.client.query('ROLLBACK')).then(
          () => undefined,
          () => undefined,
        );
      },
      savepoint: async (name) => {
        await this.sendBegin();
        await run(`SAVEPOINT ${name}`);
      },
      // A savepoint's deferred writes are sent by its end at the latest (an error is its own), or dropped with it:
      // the savepoint's start sent those before it.
      release: async (name) => {
        await this.sendBegin();
        await run(`RELEASE SAVEPOINT ${name}`);
      },
      rollbackTo: (name) => {
        if (this.begin) this.begin.deferred = [];
        return run(`ROLLBACK TO SAVEPOINT ${name}`);
      },
    };
    try {
      return await runTransaction(
        primitives,
        this.depth,
        () => savepointName(this.depth, ++this.savepoints),
        () => fn(new PostgresClient(this.dialect, this.client, this.depth + 1, this.depth === 0 ? begin : this.begin)),
      );
    } catch (error) {
      // A savepoint that cannot be rolled back (the connection is gone): the loss is what goes up.
      throw this.lost && !(error instanceof TransientError)
        ? new TransientError('connection_lost', `the PostgreSQL connection was lost: ${(error as Error).message}`, {}, { cause: error })
        : error;
    }
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

export async function connectPostgres(dialect: Dialect, url: string, nodeName: string): Promise<DbClient> {
  const { default: driver } = await import('pg');
  const client = new driver.Client({
    connectionString: url,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        TEXT_OIDS.has(oid) ? (value: string) => value : driver.types.getTypeParser(oid, format)) as typeof driver.types.getTypeParser,
    },
  });
  watchConnection(client);
  try {
    await client.connect();
    // Fixed session settings: ISO dates whatever the server's default, UTC for zoned values.
    await client.query("SET DateStyle = 'ISO, MDY'; SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'");
  } catch (error) {
    await client.end().catch(() => undefined);
    throw explainConnectError(error, url, nodeName);
  }
  return new PostgresClient(dialect, client);
}

function explainConnectError(error: unknown, url: string, nodeName: string): ConnectionError {
  const e = error as { code?: string; message?: string };
  const target: ConnectTarget = { brand: 'PostgreSQL', where: redactUrl(url), nodeName };
  const { where } = target;
  const problem: ConnectProblem | null =
    e.code && UNREACHABLE_CODES.has(e.code)
      ? unreachable(target, e.code)
      : e.code === INVALID_PASSWORD
        ? { message: `PostgreSQL refused the password for ${where}`, hint: 'check the password (use ${PGPASSWORD} in the url)' }
        : e.code === INVALID_AUTHORIZATION
          ? { message: `PostgreSQL refused the login for ${where}: ${e.message}`, hint: 'check the user and pg_hba.conf' }
          : e.code === INVALID_CATALOG_NAME
            ? noSuchDatabase(target, 'createdb')
            : null;
  return explainCommon(error, target, problem);
}

/** Channels the notify triggers (templates/postgres/upgrade_notify.sql.hbs) signal. */
const CHANNELS = { dsync_outbox: 'outbox', dsync_inbox: 'inbox' } as const;

/** A connection of its own that LISTENs for commits that wrote the outbox or the inbox. */
export async function listenPostgres(
  url: string,
  nodeName: string,
  onChange: (table: 'outbox' | 'inbox', session?: number) => void,
): Promise<{ close(): Promise<void> }> {
  const { default: driver } = await import('pg');
  const client = new driver.Client({ connectionString: url });
  client.on('error', () => undefined); // the daemon notices a dead listener by its own passes, and polls on
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw explainConnectError(error, url, nodeName);
  }
  client.on('notification', (message) => {
    const table = CHANNELS[message.channel as keyof typeof CHANNELS];
    if (table) onChange(table, message.processId);
  });
  await client.query(`LISTEN ${Object.keys(CHANNELS).join('; LISTEN ')}`);
  return { close: () => client.end() };
}
