/** `dsync status`: per program its pointer, backlog and last run; parked changes per node. */
import { type Config, programHome } from '../config/config.ts';
import type { Row } from '../core/dialect.ts';
import { describeError } from '../core/errors.ts';
import { redactSecrets } from '../core/redact.ts';
import type { NodeSet } from './nodes.ts';
import { findPointerAhead, type PointerAhead, pointerAheadError, readProgramState } from './program-state.ts';

export interface ProgramStatus {
  id: number;
  name: string;
  type: 'transport' | 'import';
  /** The node that holds the program's row. */
  node: string;
  pointer: number | null;
  backlog: number | null;
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

export interface StatusReport {
  programs: ProgramStatus[];
  parked: NodeParked[];
}

/**
 * `dsync status` as data: per program its pointer, backlog, last run and status, and per
 * import node the parked changes and recorded conflicts. Read-only; a node that cannot
 * be reached is reported in its entry, not thrown.
 */
export async function readStatus(config: Config, nodes: NodeSet): Promise<StatusReport> {
  const programs: ProgramStatus[] = [];
  for (const program of config.programs) {
    const home = programHome(program);
    const base = { id: program.id, name: program.name, type: program.type, node: home };
    try {
      const handle = await nodes.get(home);
      const state = await readProgramState(handle.client, program, home);
      const table = program.type === 'transport' ? 'ds_change_outbox' : 'ds_change_inbox';
      const { rows } = await handle.client.query<Row>(`SELECT count(*) AS n FROM ${table} WHERE id > ${handle.dialect.sql.param(1)}`, [state.pointer]);
      const ahead = await findPointerAhead(handle.client, table, state.pointer);
      const message = state.statusMessage === null ? null : redactSecrets(state.statusMessage);
      const entry: ProgramStatus = { ...base, pointer: state.pointer, backlog: Number(rows[0].n), lastRunAt: state.lastRunAt, status: state.status, message };
      if (ahead) {
        const error = pointerAheadError(program.id, ahead);
        Object.assign(entry, { status: error.code, message: `${error.message}; fix: ${ahead.fix}`, pointerAhead: ahead });
      }
      programs.push(entry);
    } catch (error) {
      programs.push({ ...base, pointer: null, backlog: null, lastRunAt: null, status: 'unavailable', message: describeError(error) });
    }
  }
  const parked: NodeParked[] = [];
  const importNodes = [...new Set(config.programs.filter((p) => p.type === 'import').map(programHome))];
  for (const name of importNodes) {
    try {
      const { client } = await nodes.get(name);
      const { rows } = await client.query<Row>(
        "SELECT (SELECT count(*) FROM ds_change_error WHERE status = 'open') AS open_count, (SELECT count(*) FROM ds_change_error WHERE status = 'waiting') AS waiting_count, (SELECT count(*) FROM ds_change_conflict) AS conflict_count",
      );
      parked.push({ node: name, open: Number(rows[0].open_count), waiting: Number(rows[0].waiting_count), conflicts: Number(rows[0].conflict_count) });
    } catch (error) {
      parked.push({ node: name, open: null, waiting: null, conflicts: null, error: describeError(error) });
    }
  }
  return { programs, parked };
}
