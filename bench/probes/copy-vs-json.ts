/**
 * Probe: the same batches written into a PostgreSQL inbox (transport) and applied
 * (import) with COPY and with json_populate_recordset, alternating, on one machine at
 * one moment: `npx tsx bench/probes/copy-vs-json.ts [rows]`. The COPY path is turned off
 * by hiding the client's copyFrom, as a client without it would be.
 */
import type { DbClient } from '../../src/core/dialect.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import type { NodeHandle } from '../../src/runtime/nodes.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { insertGeneratedRows } from '../bulk-sql.ts';
import { createBenchSetup } from '../nodes.ts';
import { StatementTrace, traceClient } from '../traced-client.ts';

const rows = Number(process.argv[2] ?? 30000);
const withoutCopy = (client: DbClient): DbClient =>
  new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'copyFrom') return undefined;
      if (prop === 'transaction') return <T>(fn: (tx: DbClient) => Promise<T>) => target.transaction((tx) => fn(withoutCopy(tx)));
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });

for (const round of [1, 2]) {
  for (const mode of round === 1 ? ['copy', 'json'] : ['json', 'copy']) {
    const setup = await createBenchSetup(
      [
        { name: 'src', dialect: 'postgres', sync: true },
        { name: 'tgt', dialect: 'postgres', sync: true },
      ],
      [
        { id: 1000, type: 'transport', from: 'src', to: 'tgt', batchSize: 10000 },
        { id: 1001, type: 'import', node: 'tgt', batchSize: 10000 },
      ],
    );
    try {
      const src = await setup.handle('src');
      const tgt = await setup.handle('tgt');
      await insertGeneratedRows(src.client, 0, rows, 10000);
      const trace = new StatementTrace();
      const traced = (h: NodeHandle): NodeHandle => (process.env.TRACE ? { ...h, client: traceClient(h.client, trace) } : h);
      const wrap = (h: NodeHandle): NodeHandle => traced(mode === 'json' ? { ...h, client: withoutCopy(h.client) } : h);
      const t0 = performance.now();
      const moved = await transportOnce(setup.config.programs[0] as never, src, wrap(tgt));
      const t1 = performance.now();
      const imported = await importOnce(setup.config, setup.config.programs[1] as never, wrap(tgt));
      const t2 = performance.now();
      console.log(
        `round ${round} ${mode}: transport ${moved.moved} in ${((t1 - t0) / 1000).toFixed(2)} s, import ${imported.applied} in ${((t2 - t1) / 1000).toFixed(2)} s`,
      );
      if (process.env.TRACE) for (const s of trace.top(12)) console.log(`  ${s.count} × ${s.ms} ms  ${s.shape.slice(0, 110)}`);
    } finally {
      await setup.close();
    }
  }
}
