/**
 * The seed's ds_program_parameter row: the pointer users see, the status and the last
 * run. A transport program's row lives on its source node; an import program's on its node.
 */
import type { ProgramConfig } from '../config/config.ts';
import type { DbClient, Row } from '../core/dialect.ts';
import { RuntimeError } from '../core/errors.ts';
import { utcNow } from '../core/utc-time.ts';

export interface ProgramState {
  id: number;
  pointer: number;
  status: string;
  statusMessage: string | null;
  lastRunAt: string | null;
}

/** Connections on which ds_program_parameter was found: a busy loop looks it up once (a missing row still fails). */
const parameterTableFound = new WeakSet<DbClient>();

/** Fails with the fix when the sync objects or the program's row are missing on the node. */
export async function readProgramState(client: DbClient, program: ProgramConfig, nodeName: string): Promise<ProgramState> {
  const notApplied = () =>
    new RuntimeError(
      'not_applied',
      `node ${nodeName}: the sync objects are not applied (no ds_program_parameter row for program ${program.id})`,
      {
        hint: `run \`dsync generate --node ${nodeName}\` and \`dsync apply --node ${nodeName}\``,
      },
    );
  if (!parameterTableFound.has(client)) {
    if (!(await client.dialect.tableExists(client, 'ds_program_parameter'))) throw notApplied();
    parameterTableFound.add(client);
  }
  const { rows } = await client.query<Row>(
    `SELECT id, last_pointer, status, status_message, last_run_at FROM ds_program_parameter WHERE id = ${client.dialect.sql.param(1)}`,
    [program.id],
  );
  if (rows.length === 0) throw notApplied();
  const row = rows[0];
  return {
    id: Number(row.id),
    pointer: Number(row.last_pointer),
    status: String(row.status),
    statusMessage: (row.status_message as string | null) ?? null,
    lastRunAt: row.last_run_at === null || row.last_run_at === undefined ? null : String(row.last_run_at),
  };
}

// Re-exported for the import wing, which imports it from here.
export { utcNow };

/**
 * Pointers as a connection last read or stored them, per program: a daemon's pass starts
 * from the kept one instead of reading its row again (one round trip per pass). Another
 * writer may move the pointer meanwhile (a manual `dsync import`, a second daemon, a person
 * setting it back), so every write of a kept pointer is a compare-and-set on it
 * (`expect`): when it finds another value, the kept one is forgotten and the next pass
 * reads the row. Only committed values are kept (see keepPointer).
 */
const keptPointers = new WeakMap<DbClient, Map<number, number>>();

/** The program's pointer: the one kept on this connection, else read from its row (readProgramState). */
export async function programPointer(client: DbClient, program: ProgramConfig, nodeName: string): Promise<number> {
  const kept = keptPointers.get(client)?.get(program.id);
  if (kept !== undefined) return kept;
  const { pointer } = await readProgramState(client, program, nodeName);
  keepPointer(client, program.id, pointer);
  return pointer;
}

/** Keeps `pointer` as program `programId`'s on `client`: a value read, or written by a statement that has committed. */
export function keepPointer(client: DbClient, programId: number, pointer: number): void {
  let kept = keptPointers.get(client);
  if (!kept) keptPointers.set(client, (kept = new Map()));
  kept.set(programId, pointer);
}

/** Forgets the kept pointer (another writer moved it): the next pass reads the row. */
export function forgetPointer(client: DbClient, programId: number): void {
  keptPointers.get(client)?.delete(programId);
}

/**
 * Moves the pointer (when given) and records the run; inside the caller's transaction when
 * `client` is one. With `expect`, only while the stored pointer is `expect` (a compare-and-set,
 * see keptPointers); returns whether the row was written.
 */
export async function saveProgramState(
  client: DbClient,
  programId: number,
  update: { pointer?: number; status: string; message: string | null; expect?: number },
): Promise<boolean> {
  const p = client.dialect.sql.param;
  const params: unknown[] = [update.status, update.message?.slice(0, 2000) ?? null, utcNow()];
  let set = `status = ${p(1)}, status_message = ${p(2)}, last_run_at = ${p(3)}`;
  if (update.pointer !== undefined) {
    params.push(update.pointer);
    set += `, last_pointer = ${p(params.length)}`;
  }
  params.push(programId);
  let where = `id = ${p(params.length)}`;
  if (update.expect !== undefined) {
    params.push(update.expect);
    where += ` AND last_pointer = ${p(params.length)}`;
  }
  const { rowCount } = await client.query(`UPDATE ds_program_parameter SET ${set} WHERE ${where}`, params);
  return update.expect === undefined || rowCount > 0;
}

/**
 * saveProgramState with the kept pointer as `expect`, outside a transaction: keeps the new
 * pointer when the row was written, forgets the kept one when another writer had moved it.
 */
export async function saveKeptProgramState(
  client: DbClient,
  programId: number,
  expect: number,
  update: { pointer?: number; status: string; message: string | null },
): Promise<boolean> {
  const written = await saveProgramState(client, programId, { ...update, expect });
  if (written) keepPointer(client, programId, update.pointer ?? expect);
  else forgetPointer(client, programId);
  return written;
}

/** A pointer above every id its table's counter ever handed out (see checkPointer). */
export interface PointerAhead {
  table: 'ds_change_outbox' | 'ds_change_inbox';
  pointer: number;
  /** The highest id the table's counter has handed out. */
  counter: number;
  /** Rows now in the table (all at or below the counter, so below the pointer: never read). */
  rows: number;
  /** The statements that set it right. */
  fix: string;
}

/**
 * The pointer only ever moves to a safe horizon, which is at or below the table's id
 * counter; the counter never goes back by itself. A pointer above it therefore means the
 * counter was reset (TRUNCATE … RESTART IDENTITY, MySQL's TRUNCATE, a reset
 * sqlite_sequence, a restored backup of the table alone): every new row gets an id at
 * or below the pointer and is never read. Null when all is well, or when the brand
 * cannot read its counter. Once new rows carry the counter past the pointer this can
 * no longer be seen, hence the check on every pass.
 */
export async function findPointerAhead(
  client: DbClient,
  table: 'ds_change_outbox' | 'ds_change_inbox',
  pointer: number,
): Promise<PointerAhead | null> {
  const { dialect } = client;
  if (!dialect.readIdCounter || !dialect.moveIdCounterSql) return null;
  const counter = await dialect.readIdCounter(client, table);
  if (pointer <= counter) return null;
  const { rows } = await client.query<Row>(`SELECT count(*) AS n FROM ${table}`);
  const present = Number(rows[0].n);
  const keepPointer = dialect.moveIdCounterSql(table, pointer);
  // Rows written since the reset are renumbered above the pointer, which keeps their order;
  // an outbox id is also the change's id at its targets, so reusing old ids is no option.
  const renumber = `UPDATE ${table} SET id = id + ${pointer} WHERE id <= ${counter}; ${dialect.moveIdCounterSql(table, pointer + counter)}`;
  const fix =
    present === 0
      ? keepPointer
      : `if the ${present} rows now in ${table} came after the reset (TRUNCATE): ${renumber}; if they were all read before (a restored backup): ${keepPointer}`;
  return { table, pointer, counter, rows: present, fix };
}

/**
 * Throws RuntimeError `pointer_ahead` with the fix when `pointer` is above `table`'s id
 * counter (see findPointerAhead): a pass must stop there rather than idle while every
 * new change is skipped.
 */
export async function checkPointer(
  client: DbClient,
  programId: number,
  table: 'ds_change_outbox' | 'ds_change_inbox',
  pointer: number,
): Promise<void> {
  const ahead = await findPointerAhead(client, table, pointer);
  if (ahead) throw pointerAheadError(programId, ahead);
}

/**
 * Stops a pass whose pointer is above its table's id counter (findPointerAhead), recording
 * the fix on the program's row. A pointer at or below the pass's safe horizon is below the
 * counter too (a horizon never passes the counter), so the usual pass pays no read for it.
 */
export async function refusePointerAhead(
  client: DbClient,
  programId: number,
  table: 'ds_change_outbox' | 'ds_change_inbox',
  pointer: number,
  horizon: number,
): Promise<void> {
  if (pointer <= horizon) return;
  try {
    await checkPointer(client, programId, table, pointer);
  } catch (error) {
    if (error instanceof RuntimeError)
      await saveProgramState(client, programId, { status: 'error', message: `${error.message}; fix: ${error.hint}` });
    throw error;
  }
}

/** Thrown inside a pass when another writer moved the pointer it began from (see keptPointers): the pass is begun again. */
export function pointerMovedError(programId: number, expected: number): RuntimeError {
  return new RuntimeError('pointer_moved', `program ${programId}: the pointer is no longer ${expected} (another pass moved it)`, {
    hint: 'the pass begins again from the stored pointer',
  });
}

/** importOnce gave up: another import kept moving the pointer under `attempts` passes begun again. */
export function pointerContendedError(programId: number, attempts: number, cause: unknown): RuntimeError {
  return new RuntimeError(
    'pointer_moved',
    `program ${programId}: another import kept moving the pointer (${attempts} passes begun again); it is applying this inbox, and nothing was applied twice`,
    { hint: 'run one importer per program (stop the other daemon or `dsync import`), or run this one again' },
    { cause },
  );
}

export function pointerAheadError(programId: number, ahead: PointerAhead): RuntimeError {
  return new RuntimeError(
    'pointer_ahead',
    `program ${programId}: pointer ${ahead.pointer} is above the highest id ${ahead.counter} of ${ahead.table} (its id counter went back): new changes would never be read`,
    { hint: ahead.fix, table: ahead.table, pointer: ahead.pointer, counter: ahead.counter },
  );
}

/**
 * The pointer loop, written once for every program that walks a table by id: batches of
 * `select` (parameters: the pointer and the batch's upper id) past `pointer` up to the safe
 * `horizon`, in id order. A gap of rolled-back ids is jumped in one step: the batch comes
 * back empty with `upTo` just below the next row. The caller moves its pointer to `upTo`
 * once the batch is done. `first`: the first batch's rows, read already (readHorizonAndBatch).
 * `select` may instead be a function that reads the batch (after, upTo) in a form of its own.
 */
export async function* pointerBatches<B extends { length: number } = Row[]>(
  client: DbClient,
  table: 'ds_change_outbox' | 'ds_change_inbox',
  select: string | ((after: number, upTo: number) => Promise<B>),
  pointer: number,
  horizon: number,
  batchSize: number,
  first: B | null = null,
): AsyncGenerator<{ rows: B; upTo: number }> {
  const p = client.dialect.sql.param;
  while (pointer < horizon) {
    let upTo = Math.min(horizon, pointer + batchSize);
    const rows =
      first ??
      (typeof select === 'string'
        ? ((await client.query<Row>(select, [pointer, upTo])).rows as unknown as B)
        : await select(pointer, upTo));
    first = null;
    if (rows.length === 0) {
      const next = await client.query<Row>(`SELECT min(id) AS id FROM ${table} WHERE id > ${p(1)} AND id <= ${p(2)}`, [upTo, horizon]);
      upTo = next.rows[0].id === null ? horizon : Number(next.rows[0].id) - 1;
    }
    yield { rows, upTo };
    pointer = upTo;
  }
}

/**
 * The safe horizon of `table`, and the pointer loop's first batch when the brand reads both in
 * one round trip (Dialect.readSafeHorizonWithBatch; `rows` null otherwise): pass them on to
 * pointerBatches. `select(after, upTo)` is the batch's SELECT with its bounds as SQL.
 */
export async function readHorizonAndBatch(
  client: DbClient,
  table: 'ds_change_outbox' | 'ds_change_inbox',
  select: (after: string, upTo: string) => string,
  pointer: number,
  batchSize: number,
): Promise<{ horizon: number; rows: Row[] | null }> {
  const { dialect } = client;
  if (dialect.readSafeHorizonWithBatch) return dialect.readSafeHorizonWithBatch(client, table, select, pointer, batchSize);
  return { horizon: await dialect.readSafeHorizon(client, table), rows: null };
}
