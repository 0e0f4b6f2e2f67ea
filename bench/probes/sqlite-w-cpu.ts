/**
 * Probe: workload W on SQLite through better-sqlite3 directly (one prepared statement, one
 * row per statement, 1,000 per transaction, a WAL file database as the bench uses), this
 * process's CPU per statement for each capture script given, rounds alternating the order;
 * best of the rounds. Each variant gets a fresh database with the generated dsync objects
 * (generated/sqlite/00*.sql) and the seed's sales_order, then the script (name=- for none).
 * Not a benchmark case: evidence for docs/performance.md ("SQLite's trigger programs").
 *
 *   npx tsx bench/probes/sqlite-w-cpu.ts N ROUNDS name=capture.sql [name=capture.sql …]
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const [nArg, roundsArg, ...variantArgs] = process.argv.slice(2);
const n = Number(nArg);
const rounds = Number(roundsArg);
const objects = readdirSync('generated/sqlite')
  .filter((f) => /^00\d\d_/.test(f))
  .sort()
  .map((f) => readFileSync(join('generated/sqlite', f), 'utf8'))
  .join('\n');
const seed = readFileSync('fixtures/seed/sales_order.sqlite.sql', 'utf8');
const variants = variantArgs.map((arg) => {
  const [name, file] = arg.split('=');
  return { name, script: file === '-' ? '' : readFileSync(file, 'utf8') };
});
const PHASES = ['insert', 'update', 'delete'] as const;
const best = new Map<string, Record<(typeof PHASES)[number], number>>();
const cpuMicros = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
const orderId = (i: number) => `o${String(i).padStart(7, '0')}`;
const stamp = (i: number) => new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString().replace('T', ' ').replace('Z', '');

for (let round = 0; round < rounds; round++) {
  for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
    const path = join(tmpdir(), `dsync-w-cpu-${process.pid}-${v.name}.db`);
    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      db.exec(objects);
      db.exec(seed);
      if (v.script) db.exec(v.script);
      const insert = db.prepare('INSERT INTO sales_order VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
      const update = db.prepare('UPDATE sales_order SET quantity = ? WHERE order_id = ?');
      const remove = db.prepare('DELETE FROM sales_order WHERE order_id = ?');
      const times = best.get(v.name) ?? { insert: Infinity, update: Infinity, delete: Infinity };
      const phase = (name: (typeof PHASES)[number], count: number, run: (i: number) => void) => {
        const started = cpuMicros();
        for (let s = 0; s < count; s += 1000) {
          db.transaction(() => {
            for (let i = s; i < Math.min(count, s + 1000); i++) run(i);
          })();
        }
        times[name] = Math.min(times[name], (cpuMicros() - started) / count);
      };
      phase('insert', n, (i) =>
        insert.run(
          orderId(i),
          i % 2 ? 'wholesale' : 'retail',
          `order ${i} description text`,
          'laptop',
          `c${i % 1000}`,
          i % 100,
          '2025-05-25',
          stamp(i),
          'bench',
          'app',
        ),
      );
      phase('update', n, (i) => update.run(i + 1000, orderId((i * 7919) % n)));
      phase('delete', Math.round(n / 5), (i) => remove.run(orderId((i * 7919) % n)));
      best.set(v.name, times);
    } finally {
      db.close();
      for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
    }
  }
}
console.log(
  `SQLite W through better-sqlite3, ${n} inserts, ${n} updates, ${Math.round(n / 5)} deletes: µs of process CPU per statement, best of ${rounds}`,
);
console.log(['variant'.padEnd(16), ...PHASES.map((p) => p.padStart(8))].join(''));
for (const v of variants) {
  const t = best.get(v.name)!;
  console.log([v.name.padEnd(16), ...PHASES.map((p) => t[p].toFixed(1).padStart(8))].join(''));
}
