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

/** Fails with the fix when the sync objects or the program's row are missing on the node. */
export async function readProgramState(client: DbClient, program: ProgramConfig, nodeName: string): Promise<ProgramState> {
  const notApplied = () =>
    new RuntimeError('not_applied', `node ${nodeName}: the sync objects are not applied (no ds_program_parameter row for program ${program.id})`, {
      hint: `run \`dsync generate --node ${nodeName}\` and \`dsync apply --node ${nodeName}\``,
    });
  if (!(await client.dialect.tableExists(client, 'ds_program_parameter'))) throw notApplied();
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

/** Moves the pointer (when given) and records the run; inside the caller's transaction when `client` is one. */
export async function saveProgramState(
  client: DbClient,
  programId: number,
  update: { pointer?: number; status: string; message: string | null },
): Promise<void> {
  const p = client.dialect.sql.param;
  const params: unknown[] = [update.status, update.message?.slice(0, 2000) ?? null, utcNow()];
  let set = `status = ${p(1)}, status_message = ${p(2)}, last_run_at = ${p(3)}`;
  if (update.pointer !== undefined) {
    params.push(update.pointer);
    set += `, last_pointer = ${p(4)}`;
  }
  params.push(programId);
  await client.query(`UPDATE ds_program_parameter SET ${set} WHERE id = ${p(params.length)}`, params);
}
