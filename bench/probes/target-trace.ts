/**
 * Probe: where a drain's time goes at the target. A backlog of N inserts and an UPDATE of
 * every row (2N changes) moved by transportOnce and applied by importOnce, the target's
 * client traced by statement shape, each phase timed:
 * `npx tsx bench/probes/target-trace.ts [N] [postgres>sqlite,postgres>mysql]`.
 */
import type { DialectName } from '../../src/core/dialect.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createDrainPair } from '../drain-pair.ts';
import { StatementTrace, traceClient } from '../traced-client.ts';

const n = Number(process.argv[2] ?? 10000);
const pairs = (process.argv[3] ?? 'postgres>sqlite,postgres>mysql').split(',');
for (const pair of pairs) {
  const [from, to] = pair.split('>') as [DialectName, DialectName];
  const { setup, src, tgt } = await createDrainPair(from, to, n);
  try {
    for (const phase of ['transport', 'import'] as const) {
      const trace = new StatementTrace();
      const traced = { ...tgt, client: traceClient(tgt.client, trace) };
      const t0 = performance.now();
      let done = 0;
      for (let pass = 0; done < 2 * n && pass < 50; pass++) {
        if (phase === 'transport') done += (await transportOnce(setup.config.programs[0] as never, src, traced)).moved;
        else {
          const r = await importOnce(setup.config, setup.config.programs[1] as never, traced);
          done += r.applied + r.unchanged;
        }
      }
      const ms = performance.now() - t0;
      const stmtMs = trace.top(100).reduce((s, x) => s + x.ms, 0);
      console.log(`${pair} ${phase}: ${2 * n} changes in ${(ms / 1000).toFixed(2)} s; target statements ${(stmtMs / 1000).toFixed(2)} s`);
      for (const s of trace.top(8)) console.log(`  ${String(s.ms).padStart(6)} ms ${String(s.count).padStart(4)}× ${s.shape}`);
    }
  } finally {
    await setup.close();
  }
}
