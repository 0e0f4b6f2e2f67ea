/** `dsync status`: per program its pointer, backlog, lag and last run; parked changes per node. */
import { type Config, type ProgramConfig, programHome } from '../config/config.ts';
import { parseDateTime } from '../core/canonical.ts';
import type { Row } from '../core/dialect.ts';
import { describeError } from '../core/errors.ts';
import { redactSecrets } from '../core/redact.ts';
import { driftOfNode, type TableDrift } from '../migrate/drift.ts';
import { logCaptureNodes } from './capture/capture-pass.ts';
import type { NodeHandle, NodeSet } from './nodes.ts';
import { findPointerAhead, type PointerAhead, pointerAheadError, readProgramState } from './program-state.ts';

export interface ProgramStatus {
  id: number;
  name: string;
  type: 'transport' | 'import';
  /** The node that holds the program's row. */
  node: string;
  pointer: number | null;
  backlog: number | null;
  /** Seconds since the oldest change past the pointer was captured (its update_datetime); 0 with no backlog. */
  lagSeconds: number | null;
  lastRunAt: string | null;
  status: string;
  message: string | null;
  /** The pointer is above every id its table ever handed out: new changes are never read (see checkPointer). */
  pointerAhead?: PointerAhead;
}

export interface NodeParked {
  node: string;
  open: number | null;
  waiting: number | null;
  conflicts: number | null;
  error?: string;
}

/** Per node, the synchronized tables whose applied capture triggers no longer match the live table (src/migrate/drift.ts). */
export interface NodeDrift {
  node: string;
  tables: TableDrift[];
  error?: string;
}

/** A node with tables in capture mode log: its replication slot and the WAL it holds back (docs/capture-modes.md#log). */
export interface LogSlotStatus {
  node: string;
  slot: string | null;
  /** Where the last capture pass confirmed the slot to. */
  confirmedLsn: string | null;
  /** Bytes of WAL the server keeps for the slot (pg_current_wal_lsn() - confirmed_flush_lsn): grows while no pass runs. */
  retainedBytes: number | null;
  error?: string;
}

export interface StatusReport {
  programs: ProgramStatus[];
  parked: NodeParked[];
  /** With `{ schema: true }` (the CLI's `dsync status`): drift per node. */
  drift?: NodeDrift[];
  /** Only when some node has tables in capture mode log. */
  logCapture?: LogSlotStatus[];
}

/**
 * `dsync status` as data: per program its pointer, backlog, last run and status, and per
 * import node the parked changes and recorded conflicts. Read-only; a node that cannot
 * be reached is reported in its entry, not thrown.
 */
export interface Backlog {
  pointer: number;
  rows: number;
  lagSeconds: number;
}

/** Capture times are written in UTC (the outbox default); a zone the driver adds is honoured. */
function epochMs(value: unknown): number | null {
  const p = parseDateTime(value);
  if (!p) return null;
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute - (p.offsetMinutes ?? 0), p.second, Math.floor(p.micro / 1000));
}

/**
 * The rows past a program's pointer in the table it reads (outbox for a transport, inbox
 * for an import) and the lag: how long ago the first of them was captured.
 */
export async function readBacklog(handle: NodeHandle, program: ProgramConfig, pointer: number, now = Date.now()): Promise<Backlog> {
  const table = program.type === 'transport' ? 'ds_change_outbox' : 'ds_change_inbox';
  const p = handle.dialect.sql.param(1);
  const { rows } = await handle.client.query<Row>(`SELECT count(*) AS n, min(id) AS first_id FROM ${table} WHERE id > ${p}`, [pointer]);
  const count = Number(rows[0].n);
  if (count === 0 || rows[0].first_id === null) return { pointer, rows: 0, lagSeconds: 0 };
  const first = await handle.client.query<Row>(`SELECT update_datetime FROM ${table} WHERE id = ${p}`, [rows[0].first_id]);
  const captured = epochMs(first.rows[0]?.update_datetime);
  return { pointer, rows: count, lagSeconds: captured === null ? 0 : Math.max(0, (now - captured) / 1000) };
}

export async function readStatus(config: Config, nodes: NodeSet, options: { schema?: boolean } = {}): Promise<StatusReport> {
  const programs: ProgramStatus[] = [];
  for (const program of config.programs) {
    const home = programHome(program);
    const base = { id: program.id, name: program.name, type: program.type, node: home };
    try {
      const handle = await nodes.get(home);
      const state = await readProgramState(handle.client, program, home);
      const table = program.type === 'transport' ? 'ds_change_outbox' : 'ds_change_inbox';
      const backlog = await readBacklog(handle, program, state.pointer);
      const ahead = await findPointerAhead(handle.client, table, state.pointer);
      const message = state.statusMessage === null ? null : redactSecrets(state.statusMessage);
      const entry: ProgramStatus = {
        ...base,
        pointer: state.pointer,
        backlog: backlog.rows,
        lagSeconds: round(backlog.lagSeconds),
        lastRunAt: state.lastRunAt,
        status: state.status,
        message,
      };
      if (ahead) {
        const error = pointerAheadError(program.id, ahead);
        Object.assign(entry, { status: error.code, message: `${error.message}; fix: ${ahead.fix}`, pointerAhead: ahead });
      }
      programs.push(entry);
    } catch (error) {
      programs.push({
        ...base,
        pointer: null,
        backlog: null,
        lagSeconds: null,
        lastRunAt: null,
        status: 'unavailable',
        message: describeError(error),
      });
    }
  }
  const parked: NodeParked[] = [];
  const importNodes = [...new Set(config.programs.filter((p) => p.type === 'import').map(programHome))];
  for (const name of importNodes) {
    try {
      parked.push(await readParked(await nodes.get(name), name));
    } catch (error) {
      parked.push({ node: name, open: null, waiting: null, conflicts: null, error: describeError(error) });
    }
  }
  const report: StatusReport = { programs, parked };
  const logNodes = logCaptureNodes(config);
  if (logNodes.length > 0) report.logCapture = await readLogCapture(nodes, logNodes);
  if (options.schema) report.drift = await readDrift(config, nodes);
  return report;
}

/** The replication slot of every node with tables in capture mode log. */
async function readLogCapture(nodes: NodeSet, logNodes: string[]): Promise<LogSlotStatus[]> {
  const logCapture: LogSlotStatus[] = [];
  for (const name of logNodes) {
    try {
      const handle = await nodes.get(name);
      const state = await handle.dialect.changeLog?.slotState(handle.client, name);
      logCapture.push(
        state
          ? { node: name, slot: state.slot, confirmedLsn: state.confirmedLsn, retainedBytes: state.retainedBytes }
          : { node: name, slot: null, confirmedLsn: null, retainedBytes: null, error: 'no replication slot: run dsync apply' },
      );
    } catch (error) {
      logCapture.push({ node: name, slot: null, confirmedLsn: null, retainedBytes: null, error: describeError(error) });
    }
  }
  return logCapture;
}

/**
 * Schema drift of every node: a table changed (columns added, dropped, retyped) since its
 * capture triggers were applied. Reads the catalog, the generated files and the ledger;
 * changes nothing. A node never applied, or that cannot be reached, says so in its entry.
 */
export async function readDrift(config: Config, nodes: NodeSet): Promise<NodeDrift[]> {
  const out: NodeDrift[] = [];
  for (const name of Object.keys(config.nodes)) {
    try {
      out.push({ node: name, tables: await driftOfNode(config, nodes, name) });
    } catch (error) {
      out.push({ node: name, tables: [], error: describeError(error) });
    }
  }
  return out;
}

/** Parked changes (open and waiting behind them) and recorded conflicts of a node an import applies to. */
export async function readParked(handle: NodeHandle, node: string): Promise<NodeParked> {
  const { rows } = await handle.client.query<Row>(
    "SELECT (SELECT count(*) FROM ds_change_error WHERE status = 'open') AS open_count, (SELECT count(*) FROM ds_change_error WHERE status = 'waiting') AS waiting_count, (SELECT count(*) FROM ds_change_conflict) AS conflict_count",
  );
  return { node, open: Number(rows[0].open_count), waiting: Number(rows[0].waiting_count), conflicts: Number(rows[0].conflict_count) };
}

const round = (seconds: number) => Math.round(seconds * 10) / 10;
