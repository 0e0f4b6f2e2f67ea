/**
 * Probe: the CPU of the transport's COPY text alone, without the databases' time: a PostgreSQL
 * outbox of the drain probes' workload (N inserts, an UPDATE of every row) read once by COPY into
 * memory, then turned into inbox rows by OutboxCopyReader and into LOAD DATA's format
 * (loadDataPiece, MariaDB's destination) again and again; prints this process's CPU for each.
 *
 *   npx tsx bench/probes/outbox-copy-cpu.ts [N=40000] [rounds=8]
 */
import { CHANGE_ROW_COLUMNS } from '../../src/core/change.ts';
import { loadDataPiece } from '../../src/dialects/mysql/mysql-load-text.ts';
import { type CopyOutClient, OutboxCopyReader } from '../../src/runtime/transport/outbox-copy.ts';
import { createDrainPair } from '../drain-pair.ts';

const n = Number(process.argv[2] ?? 40000);
const rounds = Number(process.argv[3] ?? 8);
const { setup, src } = await createDrainPair('postgres', 'mysql', n);
const chunks: Buffer[] = [];
try {
  const select = `SELECT id, ${CHANGE_ROW_COLUMNS.join(', ')}, origin_change_id FROM ds_change_outbox ORDER BY id`;
  await (src.client as CopyOutClient).copyQueryOut(select, (bytes) => chunks.push(Buffer.from(bytes)));
} finally {
  await setup.close();
}
const ms = (c: NodeJS.CpuUsage) => ((c.user + c.system) / 1000).toFixed(1);
for (let round = 0; round < rounds; round++) {
  const c0 = process.cpuUsage();
  const reader = new OutboxCopyReader('src', 'tgt');
  for (const chunk of chunks) reader.add(chunk);
  const batch = reader.finish();
  const read = process.cpuUsage(c0);
  const c1 = process.cpuUsage();
  let bytes = 0;
  for (const piece of batch.text) bytes += loadDataPiece(piece).length;
  const turned = process.cpuUsage(c1);
  console.log(`${chunks.length} outbox rows: reader ${ms(read)} ms, LOAD DATA text ${ms(turned)} ms (${bytes} bytes)`);
}
