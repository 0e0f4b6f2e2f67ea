/**
 * Where a latency sample's time goes under the daemon (PostgreSQL → PostgreSQL): a
 * Daemon in this process, every statement its programs send and every NOTIFY it hears
 * stamped against the source commit, then the moment a separate connection sees the
 * row. Prints one timeline per sample and the medians of the marks.
 *
 *   npx tsx bench/probes/wake-trace.ts [samples]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DbClient } from '../../src/core/dialect.ts';
import { postgresDialect } from '../../src/dialects/postgres/postgres-dialect.ts';
import { Daemon } from '../../src/runtime/daemon/daemon.ts';
import { type NodeHandle, NodeSet } from '../../src/runtime/nodes.ts';
import { createBenchSetup } from '../nodes.ts';
import { COLUMNS, orderRow } from '../workload.ts';

const samples = Number(process.argv[2] ?? 10);
let t0 = 0;
let events: Array<{ at: number; what: string }> = [];
const mark = (what: string) => events.push({ at: performance.now(), what });

function traced(client: DbClient, who: string): DbClient {
  const timed = async <T>(sql: string, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await run();
    } finally {
      events.push({ at: started, what: `${who} ${(performance.now() - started).toFixed(2)}ms ${sql.replace(/\s+/g, ' ').slice(0, 70)}` });
    }
  };
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'query') return (sql: string, params?: readonly unknown[]) => timed(sql, () => target.query(sql, params));
      if (prop === 'exec') return (script: string) => timed(script, () => target.exec(script));
      if (prop === 'queryMany' && target.queryMany)
        return (statements: readonly string[]) =>
          timed(`[${statements.length}] ${statements.join('; ')}`, () => target.queryMany!(statements));
      if (prop === 'queryPipelined' && target.queryPipelined)
        return (statements: ReadonlyArray<{ sql: string; params: readonly unknown[] }>) =>
          timed(`[pipeline ${statements.length}] ${statements.map((s) => s.sql).join('; ')}`, () => target.queryPipelined!(statements));
      if (prop === 'defer' && target.defer)
        return (sql: string, params: readonly unknown[], rows?: number) => {
          mark(`${who} deferred ${sql.replace(/\s+/g, ' ').slice(0, 60)}`);
          target.defer!(sql, params, rows);
        };
      if (prop === 'transaction')
        return <T>(fn: (tx: DbClient) => Promise<T>) => timed('-- transaction', () => target.transaction((tx) => fn(traced(tx, who))));
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

// Every NodeSet of the daemon: its clients traced (the loop's NodeSet is told apart by an id).
let sets = 0;
const setIds = new WeakMap<NodeSet, number>();
const originalGet = NodeSet.prototype.get;
const wrapped = new WeakSet<NodeHandle>();
NodeSet.prototype.get = async function (this: NodeSet, name: string) {
  if (!setIds.has(this)) setIds.set(this, ++sets);
  const handle = await originalGet.call(this, name);
  if (!wrapped.has(handle)) {
    wrapped.add(handle);
    handle.client = traced(handle.client, `[set${setIds.get(this)} ${name}]`);
  }
  return handle;
};
const listen = postgresDialect.listenForChanges!;
postgresDialect.listenForChanges = (url, node, onChange) =>
  listen(url, node, (table) => {
    mark(`NOTIFY ${table}@${node}`);
    onChange(table);
  });

const setup = await createBenchSetup(
  [
    { name: 'src', dialect: 'postgres', sync: true },
    { name: 'tgt', dialect: 'postgres', sync: true },
  ],
  [
    { id: 1000, type: 'transport', from: 'src', to: 'tgt', intervalSeconds: 1 },
    { id: 1001, type: 'import', node: 'tgt', intervalSeconds: 1 },
  ],
);
const abort = new AbortController();
const daemon = new Daemon(setup.config, { signal: abort.signal });
const running = daemon.run();
try {
  const src = (await setup.handle('src')).client;
  const tgt = (await setup.handle('tgt')).client;
  const insert = `INSERT INTO sales_order (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`;
  await sleep(1500);
  const totals: number[] = [];
  for (let i = -1; i < samples; i++) {
    const row = orderRow(7_000_000 + i);
    events = [];
    await src.query(insert, row);
    t0 = performance.now();
    for (;;) {
      if ((await tgt.query('SELECT 1 FROM sales_order WHERE order_id = $1', [row[0]])).rows.length > 0) break;
      await sleep(1);
    }
    const total = performance.now() - t0;
    if (i >= 0) totals.push(total);
    await sleep(150);
    console.log(`\n== sample ${i}: visible after ${total.toFixed(1)} ms`);
    for (const e of events.sort((a, b) => a.at - b.at)) console.log(`${(e.at - t0).toFixed(2).padStart(8)}  ${e.what}`);
    await sleep(Math.random() * 80);
  }
  totals.sort((a, b) => a - b);
  console.log(
    `\nvisible: median ${totals[Math.floor(totals.length / 2)].toFixed(1)} ms, min ${totals[0].toFixed(1)}, max ${totals.at(-1)!.toFixed(1)}`,
  );
} finally {
  abort.abort();
  await running;
  await setup.close();
}
