// Scratch: the COPY reader's CPU alone, on an outbox of the drain probes' workload.
import { createDrainPair } from '../drain-pair.ts';
import { OutboxCopyReader } from '../../src/runtime/transport/outbox-copy.ts';
import { loadDataPiece } from '../../src/dialects/mysql/mysql-load-text.ts';
const n = Number(process.argv[2] ?? 20000);
const { setup, src } = await createDrainPair('postgres', 'mysql', n);
const chunks: Buffer[] = [];
const sel = `SELECT id, object_database, object_table, object_pk_attribute, object_attribute, object_id, object_id_old, object_value, object_value_old, object_operation, object_operation_command, updated_by_server_id, updated_by_user_id, update_datetime, note1, row_cl, row_cl_old, change_version, origin_change_id FROM ds_change_outbox ORDER BY id`;
await (src.client as any).copyQueryOut(sel, (b: Buffer) => chunks.push(Buffer.from(b)));
await setup.close();
console.log(chunks.length, 'rows; first:', JSON.stringify(chunks[0].toString()), JSON.stringify(chunks[chunks.length-1].toString()));
for (let round = 0; round < 8; round++) {
  const c0 = process.cpuUsage();
  const reader = new OutboxCopyReader('src', 'tgt');
  for (const c of chunks) reader.add(c);
  const batch = reader.finish();
  const c1 = process.cpuUsage(c0);
  const c2 = process.cpuUsage();
  let bytes = 0; for (const p of batch.text) bytes += loadDataPiece(p).length;
  const c3 = process.cpuUsage(c2);
  console.log(`reader ${((c1.user + c1.system) / 1000).toFixed(1)} ms, translate ${((c3.user + c3.system) / 1000).toFixed(1)} ms, ${bytes} bytes`);
}
