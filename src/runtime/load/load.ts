/**
 * `dsync load`: copies the rows a table already holds on one node to another, in key
 * order and chunks, with the version-store entries of those rows, so that the changes
 * captured while it runs merge by version whether or not the load already brought their
 * row (docs/onboarding.md). Resumable: each chunk commits with the load's state.
 */
import type { Config, TransportProgram } from '../../config/config.ts';
import type { ValueMap } from '../../core/change.ts';
import { RuntimeError } from '../../core/errors.ts';
import { syncedColumns, type TableSchema } from '../../core/schema.ts';
import { countRows, type KeyValues } from '../../verify/range-reader.ts';
import { shadowLoadedRows } from '../capture/capture-shadow.ts';
import { importContext, type ImportContext } from '../import/import.ts';
import { type NodeHandle, requireSyncObjects } from '../nodes.ts';
import { readProgramState } from '../program-state.ts';
import { anyRowFor, LoadSideReader, mergeChunk } from './load-chunk.ts';
import type { Resolution } from './load-plan.ts';
import { type LoadState, readLoadState, saveLoadState, startLoadState } from './load-state.ts';
import { releasePending } from './release-pending.ts';

export interface LoadOptions {
  /** Rows per chunk (one source read, one target transaction). */
  chunkRows?: number;
  /** Plan only: nothing is written at the target, not even the load's state. */
  dryRun?: boolean;
  /** Load a table again although an earlier run finished it. */
  restart?: boolean;
  /** Rows already at the target listed in the report, at most (all are counted). */
  maxListed?: number;
  onProgress?: (progress: { table: string; rows: number; total: number }) => void;
  /** One chunk at a time even where the target takes a second writer (see loadTable). */
  noOverlap?: boolean;
}

export interface LoadTableReport {
  table: string;
  /** done: this run copied it to the end; finished-before: an earlier run did (see `restart`). */
  status: 'done' | 'finished-before' | 'dry-run';
  runId: string | null;
  /** The key the run continued after, when it resumed a killed one. */
  resumedAfter: KeyValues | null;
  outboxPosition: number;
  rowsRead: number;
  inserted: number;
  updated: number;
  /** Rows whose key the target already had, by how each came out. */
  existing: Partial<Record<Resolution, number>>;
  listed: Array<{ key: ValueMap; resolution: Resolution; columns: string[] }>;
  pendingMerged: number;
  seconds: number;
}

export interface LoadReport {
  from: string;
  to: string;
  dryRun: boolean;
  /** Transport programs from the source to the target and their pointers when the load began. */
  transports: Array<{ program: number; pointer: number }>;
  warnings: string[];
  tables: LoadTableReport[];
}

const RETRIES = 12;
/** How long a chunk waits for the chunk before it to commit before it gives up: at least this, … */
const GATE_MIN_MS = 2000;
/** … or this many times the last chunk's time. */
const GATE_FACTOR = 5;

/** What a committed chunk did. */
type ChunkDone = Awaited<ReturnType<typeof mergeChunk>> & { released: number; next: LoadState | null; hi: KeyValues };

/** The state `earlier` committed, or a failure when it failed or took longer than `ms`. */
async function gate(earlier: Promise<ChunkDone>, ms: number): Promise<LoadState> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`load: the chunk before did not commit within ${Math.round(ms)} ms`)), ms);
  });
  try {
    const done = await Promise.race([earlier, late]);
    return done.next!;
  } finally {
    clearTimeout(timer);
  }
}
const WRITER_PAUSE_MS = 150;
const WRITER_PAUSE_EVERY_MS = 1000;

/** Transport programs that carry the source's outbox to the target. */
function transportsBetween(config: Config, from: string, to: string): TransportProgram[] {
  return config.programs.filter((p): p is TransportProgram => p.type === 'transport' && p.from === from && p.to === to);
}

/**
 * Notes the source outbox position before the first row is read. Every change not in a
 * chunk's read committed after this, so its outbox id is above the position; a transport
 * pointer at or below it therefore still carries every such change. The pointers are read
 * first: they only grow, and only up to a safe horizon, so a pointer above the position
 * was moved by hand past changes that then never travel.
 */
async function noteOutboxPosition(
  config: Config,
  source: NodeHandle,
  target: NodeHandle,
): Promise<{ position: number; transports: LoadReport['transports'] }> {
  const transports = [];
  for (const program of transportsBetween(config, source.node.name, target.node.name)) {
    transports.push({ program: program.id, pointer: (await readProgramState(source.client, program, source.node.name)).pointer });
  }
  // The safe horizon can lag behind writers still in flight (a PostgreSQL fence not yet
  // passed reads as 0); a transport pointer only ever moved to a safe horizon, so ids at or
  // below it are final too. Only a pointer above the id counter was moved by hand.
  const horizon = await source.dialect.readSafeHorizon(source.client, 'ds_change_outbox');
  const counter = source.dialect.readIdCounter
    ? await source.dialect.readIdCounter(source.client, 'ds_change_outbox')
    : Number.POSITIVE_INFINITY;
  const position = Math.max(horizon, ...transports.filter((t) => t.pointer <= counter).map((t) => t.pointer));
  for (const t of transports) {
    if (t.pointer > position) {
      throw new RuntimeError(
        'pointer_past_load',
        `program ${t.program}: its pointer ${t.pointer} is past the outbox position ${position} of ${source.node.name}: changes made during the load would not travel`,
        {
          hint: `set the pointer back to ${position} or below (UPDATE ds_program_parameter SET last_pointer = ${position} WHERE id = ${t.program}) and load again`,
        },
      );
    }
  }
  return { position, transports };
}

function copiedColumns(source: TableSchema, target: TableSchema, warnings: string[]): string[] {
  if (source.primaryKey.join(',') !== target.primaryKey.join(',')) {
    throw new RuntimeError(
      'key_mismatch',
      `${source.name}: the primary keys differ (${source.primaryKey.join(', ')} on the source, ${target.primaryKey.join(', ')} on the target)`,
      {
        hint: 'give the table the same primary key on both nodes, then load',
      },
    );
  }
  const onTarget = new Set(syncedColumns(target).map((c) => c.name));
  const names = syncedColumns(source).map((c) => c.name);
  const missing = names.filter((n) => !onTarget.has(n));
  if (missing.length) warnings.push(`${source.name}: columns not on the target, not copied: ${missing.join(', ')}`);
  return names.filter((n) => onTarget.has(n));
}

/**
 * Runs `fn` again after a failure (a deadlock, a busy SQLite file, a key the import
 * inserted meanwhile): the chunk is read afresh each time, and smaller, so that under a
 * busy writer the window in which another write can meet it shrinks.
 */
async function withRetries<T>(fn: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (error instanceof RuntimeError || attempt + 1 >= RETRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100 * (attempt + 1)));
    }
  }
}

interface TableJob {
  config: Config;
  source: NodeHandle;
  target: NodeHandle;
  name: string;
  ctx: ImportContext;
  position: number;
  warnings: string[];
}

async function loadTable(job: TableJob, options: LoadOptions): Promise<LoadTableReport> {
  const { config, source, target, name } = job;
  const started = performance.now();
  const chunkRows = options.chunkRows ?? 1000;
  const maxListed = options.maxListed ?? 50;
  const dryRun = options.dryRun ?? false;
  const policy = config.tables.find((t) => t.name === name)?.conflict ?? 'latest-wins';
  const report: LoadTableReport = {
    table: name,
    status: dryRun ? 'dry-run' : 'done',
    runId: null,
    resumedAfter: null,
    outboxPosition: job.position,
    rowsRead: 0,
    inserted: 0,
    updated: 0,
    existing: {},
    listed: [],
    pendingMerged: 0,
    seconds: 0,
  };
  let state: LoadState | null = await readLoadState(target.client, source.node.name, name);
  if (state?.status === 'done' && !options.restart) {
    return { ...report, status: 'finished-before', runId: state.runId, outboxPosition: state.outboxPosition };
  }
  if (!dryRun && (!state || state.status === 'done')) {
    state = await startLoadState(
      target.client,
      source.node.name,
      name,
      new Date().toISOString().replace(/[-:]/g, '').slice(0, 15),
      job.position,
    );
  }
  let lo: KeyValues | null = null;
  if (state && state.status === 'running') {
    report.runId = state.runId;
    report.outboxPosition = state.outboxPosition;
    lo = state.lastKey as KeyValues | null;
    report.resumedAfter = lo;
  }
  const sourceTable = await source.dialect.introspect(source.client, name);
  const targetTable = job.ctx.tables.get(name)!;
  const columns = copiedColumns(sourceTable, targetTable, job.warnings);
  const reader = await LoadSideReader.open(source.client, sourceTable, columns, true);
  // A receive-only target's import locks rows, not entries: the chunk locks the rows it reads before the source's read.
  const lockRows = target.node.receiveOnly === true;
  const writer = await LoadSideReader.open(target.client, targetTable, columns, false, lockRows);
  const total = await countRows(source.client, sourceTable);
  // Whether the target had no entry of the table before the first chunk (see mergeChunk):
  // then a chunk whose range holds no target row needs no look-up of entries. Not where a
  // locking read of an absent key locks the gap around it (MySQL): there the look-up also
  // holds an import's insert of the key back, which this keeps as it was.
  let insertsProve =
    !dryRun && !target.dialect.capabilities.lockingReadLocksGaps && !(await anyRowFor(target.client, 'ds_row_version', name));
  const done = state && lo ? state.rowsCopied : 0;
  options.onProgress?.({ table: name, rows: done, total });
  let lastPause = performance.now();
  // The next chunk's keys, read on the source while the target writes this chunk (the
  // source connection is idle then). Only a hint of where the next chunk ends: rows and
  // entries are read afresh in the chunk. Awaited before the source is used again.
  let ahead: { from: KeyValues; keys: Promise<KeyValues[]> } | null = null;
  const settle = async () => {
    const pending = ahead;
    ahead = null;
    await pending?.keys.catch(() => undefined);
  };
  const takeKeys = async (from: KeyValues | null, limit: number, fresh: boolean): Promise<KeyValues[]> => {
    const prefetched = !fresh && ahead !== null && ahead.from === from ? ahead.keys : null;
    if (!prefetched) await settle();
    ahead = null;
    return prefetched ?? reader.nextKeys(from, limit);
  };
  const readAhead = (hi: KeyValues) => {
    // With the keys, while the source is idle, the probe for entries the next rows read takes.
    const keys = reader.nextKeys(hi, chunkRows).then(async (k) => {
      await reader.probeEntries(name, true);
      return k;
    });
    ahead = { from: hi, keys };
    ahead.keys.catch(() => undefined);
  };

  /**
   * One chunk in a transaction of `side`: the merge, then (after `previous` committed, when
   * given: the state moves in key order) the waiting updates, the shadow and the state.
   * `onRead` is called once the chunk has read the source.
   */
  const runChunk = (
    side: LoadSideReader,
    from: KeyValues | null,
    keys: KeyValues[],
    previous: (() => Promise<LoadState>) | null,
    onRead: () => void,
  ): Promise<ChunkDone> => {
    const hi = keys[keys.length - 1];
    const attempt = side.slot.within(async (tx) => {
      const result = await mergeChunk(
        tx,
        side,
        reader,
        name,
        policy,
        from,
        keys,
        !dryRun,
        () => {
          readAhead(hi);
          onRead();
        },
        insertsProve,
      );
      let released = 0;
      let next: LoadState | null = null;
      if (!dryRun) {
        const base = previous ? await previous() : state!;
        const existing = result.existing.length;
        const conflicting = result.existing.filter((e) => e.resolution !== 'equal').length;
        next = {
          ...base,
          lastKey: hi,
          rowsCopied: base.rowsCopied + result.rows,
          rowsExisting: base.rowsExisting + existing,
          rowsConflicting: base.rowsConflicting + conflicting,
        };
        // The state and (on PostgreSQL, in the same statement) whether any update waits; the
        // waiting updates of the chunk's keys then merge in the same transaction.
        const pending = await saveLoadState(tx, source.node.name, name, next, result.written.length > 0);
        released = await releasePending(tx, job.ctx, name, result.written, pending);
        const updateColumn = job.ctx.queryTables.get(name);
        if (updateColumn !== undefined) await shadowLoadedRows(tx, targetTable, result.written, updateColumn);
      }
      return { ...result, released, next, hi };
    });
    // A failure may be an entry the target held for a key of a range without rows: look up from now on.
    attempt.catch(() => {
      insertsProve = false;
    });
    return attempt;
  };

  /** Counts a committed chunk (only then: a rolled-back attempt must not count twice). */
  const account = (merged: ChunkDone) => {
    if (merged.next) state = merged.next;
    report.rowsRead += merged.rows;
    report.inserted += merged.inserted;
    report.updated += merged.updated;
    report.pendingMerged += merged.released;
    for (const e of merged.existing) {
      report.existing[e.resolution] = (report.existing[e.resolution] ?? 0) + 1;
      if (e.resolution !== 'equal' && report.listed.length < maxListed) report.listed.push(e);
    }
    lo = merged.hi;
    options.onProgress?.({ table: name, rows: done + report.rowsRead, total: Math.max(total, done + report.rowsRead) });
  };

  // Where the target takes a second writer, two chunks overlap on two connections: one
  // reads (the target's entries, locked, and rows of its range, then the source) while the
  // other writes. Their ranges are disjoint; each keeps the read order of a chunk alone;
  // the later one waits for the earlier to commit before it moves the state, and gives up
  // (is rolled back and done again) when that takes long: a wait in this process that the
  // database cannot see must not close a deadlock with an import waiting on its locks.
  // Not where a locking read of an absent key locks the gap around it (MySQL): the two
  // chunks' entries interleave in the version store's key order and would block each other.
  const caps = target.dialect.capabilities;
  const overlap = !dryRun && caps.concurrentWriters && !caps.lockingReadLocksGaps && !options.noOverlap;
  const second = overlap ? await target.dialect.connect(target.node.url, target.node.name) : null;
  const sides = second ? [writer, await LoadSideReader.open(second, targetTable, columns, false, lockRows)] : [writer];
  let sequential = !second;
  let lastChunkMs = 0;
  try {
    for (;;) {
      if (sequential) {
        const from = lo;
        const chunkStarted = performance.now();
        const merged = await withRetries(async (attempt) => {
          const keys = await takeKeys(from, Math.max(10, chunkRows >> attempt), attempt > 0);
          if (keys.length === 0) return null;
          return runChunk(writer, from, keys, null, () => undefined);
        });
        if (!merged) break;
        lastChunkMs = performance.now() - chunkStarted;
        account(merged);
        sequential = !second;
        // A brand with one writer at a time (SQLite) hands its lock to whoever asks first, and a
        // waiting import polls only every 100 ms: without a pause now and then (every second of
        // work, well inside its 5 s busy timeout), the load would starve it.
        if (!caps.concurrentWriters && performance.now() - lastPause > WRITER_PAUSE_EVERY_MS) {
          await new Promise((resolve) => setTimeout(resolve, WRITER_PAUSE_MS));
          lastPause = performance.now();
        }
        continue;
      }
      // Two chunks at a time: `earlier` (read, writing or committing) and the one started here.
      let earlier: { hi: KeyValues; done: Promise<ChunkDone>; started: number } | null = null;
      let turn = 0;
      let failure: unknown = null;
      for (;;) {
        const from: KeyValues | null = earlier ? earlier.hi : lo;
        let keys: KeyValues[];
        try {
          keys = await takeKeys(from, chunkRows, false);
        } catch (error) {
          failure = error;
          break;
        }
        if (keys.length === 0) break;
        const before = earlier;
        const previous = before ? () => gate(before.done, Math.max(GATE_MIN_MS, GATE_FACTOR * lastChunkMs)) : null;
        let read!: () => void;
        const sourceRead = new Promise<void>((resolve) => (read = resolve));
        const started = performance.now();
        const running = runChunk(sides[turn++ % sides.length], from, keys, previous, () => read());
        // Failed before it read the source: the source is free too.
        running.then(read, read);
        await sourceRead;
        if (before) {
          try {
            account(await before.done);
            lastChunkMs = performance.now() - before.started;
          } catch (error) {
            failure = error;
          }
        }
        earlier = { hi: keys[keys.length - 1], done: running, started };
        if (failure) break;
      }
      if (earlier) {
        // Committed or not: a chunk after a failed one fails at its wait, one after a failed
        // key read may well have committed and counts.
        try {
          account(await earlier.done);
          lastChunkMs = performance.now() - earlier.started;
        } catch (error) {
          failure ??= error;
        }
      }
      if (!failure) break;
      // A chunk failed (and the one after it with it): what committed is counted; on from
      // there one chunk alone, with the retries of a chunk alone, then two at a time again.
      if (failure instanceof RuntimeError) throw failure;
      await settle();
      sequential = true;
    }
  } finally {
    await settle();
    await second?.close();
  }
  if (!dryRun && state) await saveLoadState(target.client, source.node.name, name, { ...state, status: 'done' });
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

/**
 * A receive-only node keeps no versions, so a load from it would give its rows versions it does not have; and a
 * load into it must copy its upstream, whose changes from the load's position on then arrive after the copy, in
 * their order, and bring every row to where the upstream is (docs/convergence.md#receive-only-nodes).
 */
function refuseReceiveOnly(config: Config, source: string, target: string, tables: string[]): void {
  const hint = 'see docs/convergence.md#receive-only-nodes';
  if (config.nodes[source]?.receiveOnly) {
    throw new RuntimeError(
      'load_from_receive_only',
      `node ${source} is receiveOnly and keeps no versions: load ${target} from the node that feeds ${source}`,
      { hint },
    );
  }
  if (!config.nodes[target]?.receiveOnly) return;
  const upstream = config.programs.find((p) => p.type === 'transport' && p.to === target);
  if (upstream?.type === 'transport' && upstream.from !== source) {
    throw new RuntimeError(
      'load_receive_only',
      `node ${target} is receiveOnly and fed by ${upstream.from}: load it from ${upstream.from}, not ${source}`,
      { hint },
    );
  }
  // The replica applies again the changes its copy already holds: one whose old values differ from the row is a conflict, which manual parks.
  const manual = config.tables.findIndex((t) => tables.includes(t.name) && t.conflict === 'manual');
  if (manual >= 0) {
    throw new RuntimeError(
      'load_receive_only_manual',
      `table ${config.tables[manual].name} has conflict policy manual, which would park the changes a load into receiveOnly node ${target} replays (its copy already holds them); set tables[${manual}].conflict to "latest-wins" (or "source-wins") for the load`,
      { hint },
    );
  }
}

/** Loads `tables` (default: every synchronized table) from `source` to `target`. */
export async function loadNodes(
  config: Config,
  source: NodeHandle,
  target: NodeHandle,
  tables: string[],
  options: LoadOptions = {},
): Promise<LoadReport> {
  refuseReceiveOnly(config, source.node.name, target.node.name, tables);
  await requireSyncObjects(source, ['ds_change_outbox', 'ds_row_version']);
  await requireSyncObjects(target, ['ds_row_version', 'ds_change_pending', 'ds_load_state']);
  const importProgram = config.programs.find((p) => p.type === 'import' && p.node === target.node.name);
  const ctx = await importContext(config, target, importProgram?.id ?? 0);
  const { position, transports } = await noteOutboxPosition(config, source, target);
  const report: LoadReport = {
    from: source.node.name,
    to: target.node.name,
    dryRun: options.dryRun ?? false,
    transports,
    warnings: [],
    tables: [],
  };
  if (transports.length === 0) {
    report.warnings.push(
      `no transport program from ${source.node.name} to ${target.node.name} in the config: changes made on ${source.node.name} during the load reach ${target.node.name} only by another path`,
    );
  }
  for (const name of tables) {
    if (!config.tables.some((t) => t.name === name)) {
      throw new RuntimeError('table_not_synchronized', `table ${name} is not in the config's tables`, {
        hint: 'add it to "tables", then generate, apply and load',
      });
    }
    report.tables.push(await loadTable({ config, source, target, name, ctx, position, warnings: report.warnings }, options));
  }
  return report;
}
