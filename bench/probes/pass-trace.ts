/**
 * One change committed alone, then one transport pass and one import pass
 * (PostgreSQL → PostgreSQL), every statement they send printed in order with its time:
 * what a latency sample is made of, in round trips. Several rounds, warm connections.
 *
 *   npx tsx bench/probes/pass-trace.ts [rounds] [direct]
 *
 * `direct`: the target a receive-only node whose transport applies the change itself (directApply).
 */
import type { DbClient } from '../../src/core/dialect.ts';
import type { NodeHandle, NodeSet } from '../../src/runtime/nodes.ts';
import { runProgramOnce } from '../../src/runtime/sync.ts';
import { createBenchSetup } from '../nodes.ts';
import { COLUMNS, orderRow } from '../workload.ts';

const rounds = Number(process.argv[2] ?? 5);
const direct = process.argv[3] === 'direct';
const log: Array<{ sql: string; ms: number }> = [];

function traced(client: DbClient): DbClient {
  const timed = async <T>(sql: string, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await run();
    } finally {
      log.push({ sql: sql.replace(/\s+/g, ' ').slice(0, 110), ms: performance.now() - started });
    }
  };
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'query') return (sql: string, params?: readonly unknown[]) => timed(sql, () => target.query(sql, params));
      if (prop === 'exec') return (script: string) => timed(script, () => target.exec(script));
      if (prop === 'queryMany' && target.queryMany)
        return (statements: readonly string[]) =>
          timed(`[${statements.length} in one] ${statements.join('; ')}`, () => target.queryMany!(statements));
      if (prop === 'transaction')
        return <T>(fn: (tx: DbClient) => Promise<T>) =>
          timed('-- transaction (BEGIN … COMMIT)', () => target.transaction((tx) => fn(traced(tx))));
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function traceNodes(nodes: NodeSet): void {
  const get = nodes.get.bind(nodes);
  const wrapped = new WeakMap<NodeHandle, DbClient>();
  nodes.get = async (name: string) => {
    const handle = await get(name);
    if (!wrapped.has(handle)) {
      wrapped.set(handle, handle.client);
      handle.client = traced(handle.client);
    }
    return handle;
  };
}

const setup = await createBenchSetup(
  [
    { name: 'src', dialect: 'postgres', sync: true },
    { name: 'tgt', dialect: 'postgres', sync: true, receiveOnly: direct, directApply: direct },
  ],
  [
    { id: 1000, type: 'transport', from: 'src', to: 'tgt', intervalSeconds: 1 },
    { id: 1001, type: 'import', node: 'tgt', intervalSeconds: 1 },
  ],
);
try {
  const { config } = setup;
  const { NodeSet: Nodes } = await import('../../src/runtime/nodes.ts');
  const nodes = new Nodes(config);
  traceNodes(nodes);
  const src = (await setup.handle('src')).client;
  const insert = `INSERT INTO sales_order (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`;
  const pairs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await src.query(insert, orderRow(8_000_000 + round));
    let pair = 0;
    for (const program of config.programs) {
      log.length = 0;
      const started = performance.now();
      await runProgramOnce(config, nodes, program);
      const total = performance.now() - started;
      pair += total;
      if (round === rounds - 1 || round === 0) {
        console.log(`\n== round ${round}: program ${program.id} (${program.type}): ${log.length} statements, ${total.toFixed(1)} ms`);
        for (const s of log) console.log(`${s.ms.toFixed(2).padStart(7)} ms  ${s.sql}`);
      } else console.log(`round ${round}: program ${program.id}: ${log.length} statements, ${total.toFixed(1)} ms`);
    }
    if (round > 0) pairs.push(pair);
  }
  pairs.sort((x, y) => x - y);
  if (pairs.length > 0) {
    const at = (q: number) => pairs[Math.min(pairs.length - 1, Math.ceil(q * pairs.length) - 1)].toFixed(1);
    console.log(`\npass pair (transport + import, warm rounds): median ${at(0.5)} ms, p95 ${at(0.95)} ms, min ${pairs[0].toFixed(1)} ms`);
  }
  await nodes.closeAll();
} finally {
  await setup.close();
}
