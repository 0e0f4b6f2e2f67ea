/**
 * Probe: prices the SQLite server merge's statements where they run. Imports a fresh copy of a snapshot made by
 * sqlite-import-snapshot.ts (`make`) from a tree's compiled `dist/`, and at the batches named (0 = the first, counted
 * by the merge's deciding statement) runs each statement of the merge, and each variant of it that VARIANTS offers,
 * REPS times in a savepoint rolled back, printing the least and median CPU of this process (SQLite's included)
 * before the statement itself runs as usual. `PLANS=1` prints each statement's EXPLAIN QUERY PLAN first.
 *
 *   node bench/probes/sqlite-merge-price.mjs TREE DIR [batches=0,10,20] [reps=5]
 *
 * VARIANTS names a module whose default export maps a kind (take, entries, update, insert, delete) to
 * `{ name: (sql) => sql' }`; a variant named `notrig` runs with sales_order's capture triggers dropped (in the savepoint).
 */
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [tree, dir, batchesArg = '0,10,20', reps = '5'] = process.argv.slice(2);
const { importOnce } = await import(resolve(tree, 'dist/runtime/import/import.js'));
const { sqliteDialect } = await import(resolve(tree, 'dist/dialects/sqlite/sqlite-dialect.js'));
const variants = process.env.VARIANTS ? (await import(resolve(process.env.VARIANTS))).default : {};
const { config, total } = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
const program = config.programs.find((p) => p.type === 'import');
const wanted = new Set(batchesArg.split(',').map(Number));
const file = join(dir, `price-${process.pid}.db`);
for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) rmSync(f);
copyFileSync(join(dir, 'target.db'), file);
const node = { ...config.nodes.tgt, url: file };
const client = await sqliteDialect.connect(file, node.name);
const cpu = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const kindOf = (sql) =>
  sql.startsWith('WITH b0 AS MATERIALIZED')
    ? 'take'
    : sql.startsWith('INSERT INTO ds_row_version')
      ? 'entries'
      : /^UPDATE \S+ AS t SET/.test(sql)
        ? 'update'
        : /^INSERT INTO \S+ \(/.test(sql) && sql.includes('FROM temp.ds_sm_take')
          ? 'insert'
          : /^DELETE FROM \S+ WHERE/.test(sql) && sql.includes('temp.ds_sm_take')
            ? 'delete'
            : null;
let batch = -1;
async function price(target, kind, sql, params) {
  if (process.env.PLANS) {
    const plan = await target.query(`EXPLAIN QUERY PLAN ${sql}`, params);
    console.log(`-- batch ${batch} ${kind}\n${plan.rows.map((r) => `${r.id} ${r.parent} ${r.detail}`).join('\n')}`);
  }
  for (const [name, make] of Object.entries({ asis: (s) => s, ...(variants[kind] ?? {}) })) {
    const times = [];
    let count = 0;
    for (let i = 0; i < Number(reps); i++) {
      await target.exec('SAVEPOINT price');
      if (name === 'notrig') {
        const triggers = await target.query("SELECT name FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'ds\\_%' ESCAPE '\\'");
        for (const t of triggers.rows) await target.exec(`DROP TRIGGER "${t.name}"`);
      }
      const t0 = cpu();
      count = (await target.query(make(sql), params)).rowCount;
      times.push(cpu() - t0);
      await target.exec('ROLLBACK TO price; RELEASE price');
    }
    times.sort((a, b) => a - b);
    console.log(
      `${batch} ${kind} ${name}: least ${times[0].toFixed(1)} ms, median ${times[Math.floor(times.length / 2)].toFixed(1)} ms, rows ${count}`,
    );
  }
}
function wrap(c) {
  return new Proxy(c, {
    get(target, prop, receiver) {
      if (prop === 'transaction') return (fn) => target.transaction((tx) => fn(wrap(tx)));
      if (prop === 'query')
        return async (sql, params = []) => {
          if (sql.startsWith('WITH b0 AS MATERIALIZED')) batch++;
          const kind = kindOf(sql);
          if (kind && wanted.has(batch)) await price(target, kind, sql, params);
          return target.query(sql, params);
        };
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
const run = { ...config, nodes: { ...config.nodes, tgt: node } };
const wrapped = wrap(client);
let applied = 0;
for (let pass = 0; applied < total && pass < 100 && batch < Math.max(...wanted); pass++) {
  const r = await importOnce(run, program, { node, dialect: sqliteDialect, client: wrapped });
  applied += r.applied + r.unchanged;
}
await client.close();
for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) rmSync(f);
