/**
 * Where capture's time goes inside the database: the same INSERT … SELECT and UPDATE of
 * every row on tables with different triggers, side by side in one database, so that
 * each step of dsync's trigger can be priced: a bare row trigger writing an outbox row,
 * the same with the row as the brand's native JSON, dsync's generated trigger (canonical
 * JSON per column), and on PostgreSQL a statement-level trigger over a transition table
 * (set-based capture). Not a benchmark case: evidence for docs/performance.md.
 *
 *   npx tsx bench/probes/capture-cost.ts [rows=100000] [postgres,sqlite,mysql]
 */
import type { DialectName } from '../../src/core/dialect.ts';
import { insertGeneratedRows, updateAllRows } from '../bulk-sql.ts';
import { unavailableReason } from '../databases.ts';
import { createBenchSetup, salesOrderDdl } from '../nodes.ts';
import { fmt } from '../report.ts';
import { COLUMNS } from '../workload.ts';

type Variants = Record<string, string[]>;

/** Extra tables (LIKE sales_order) with their triggers; 'dsync' is sales_order with the generated triggers, 'plain' has none. */
const VARIANTS: Partial<Record<DialectName, Variants>> = {
  postgres: {
    plain: [],
    'row trigger, minimal outbox row': [
      `CREATE FUNCTION probe_min() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         INSERT INTO ds_change_outbox (object_table, object_id, object_operation) VALUES ('probe', NEW.order_id, 'I'); RETURN NULL; END $$`,
      'CREATE TRIGGER probe_min AFTER INSERT OR UPDATE ON "row trigger, minimal outbox row" FOR EACH ROW EXECUTE FUNCTION probe_min()',
    ],
    'row trigger, to_jsonb(NEW)': [
      `CREATE FUNCTION probe_json() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         INSERT INTO ds_change_outbox (object_table, object_id, object_value, object_operation) VALUES ('probe', NEW.order_id, to_jsonb(NEW)::text, 'I'); RETURN NULL; END $$`,
      'CREATE TRIGGER probe_json AFTER INSERT OR UPDATE ON "row trigger, to_jsonb(NEW)" FOR EACH ROW EXECUTE FUNCTION probe_json()',
    ],
    'statement trigger, transition table': [
      `CREATE FUNCTION probe_stmt() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         INSERT INTO ds_change_outbox (object_table, object_id, object_value, object_operation) SELECT 'probe', n.order_id, to_jsonb(n)::text, 'I' FROM new_rows n; RETURN NULL; END $$`,
      'CREATE TRIGGER probe_stmt_i AFTER INSERT ON "statement trigger, transition table" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION probe_stmt()',
      'CREATE TRIGGER probe_stmt_u AFTER UPDATE ON "statement trigger, transition table" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION probe_stmt()',
    ],
  },
  sqlite: {
    plain: [],
    'row trigger, minimal outbox row': [
      `CREATE TRIGGER probe_min_i AFTER INSERT ON "row trigger, minimal outbox row" BEGIN INSERT INTO ds_change_outbox (object_table, object_id, object_operation) VALUES ('probe', NEW.order_id, 'I'); END`,
      `CREATE TRIGGER probe_min_u AFTER UPDATE ON "row trigger, minimal outbox row" BEGIN INSERT INTO ds_change_outbox (object_table, object_id, object_operation) VALUES ('probe', NEW.order_id, 'U'); END`,
    ],
    'row trigger, json_object of raw columns': [0, 1].map(
      (u) => `CREATE TRIGGER probe_json_${u} AFTER ${u ? 'UPDATE' : 'INSERT'} ON "row trigger, json_object of raw columns" BEGIN
        INSERT INTO ds_change_outbox (object_table, object_id, object_value, object_operation)
        VALUES ('probe', NEW.order_id, json_object(${COLUMNS.map((c) => `'${c}', NEW.${c}`).join(', ')}), '${u ? 'U' : 'I'}'); END`,
    ),
  },
  mysql: {
    plain: [],
    'row trigger, minimal outbox row': [0, 1].map(
      (u) => `CREATE TRIGGER probe_min_${u} AFTER ${u ? 'UPDATE' : 'INSERT'} ON \`row trigger, minimal outbox row\` FOR EACH ROW
        INSERT INTO ds_change_outbox (object_table, object_id, object_operation) VALUES ('probe', NEW.order_id, '${u ? 'U' : 'I'}')`,
    ),
    'row trigger, JSON_OBJECT of raw columns': [0, 1].map(
      (u) => `CREATE TRIGGER probe_json_${u} AFTER ${u ? 'UPDATE' : 'INSERT'} ON \`row trigger, JSON_OBJECT of raw columns\` FOR EACH ROW
        INSERT INTO ds_change_outbox (object_table, object_id, object_value, object_operation)
        VALUES ('probe', NEW.order_id, JSON_OBJECT(${COLUMNS.map((c) => `'${c}', NEW.${c}`).join(', ')}), '${u ? 'U' : 'I'}')`,
    ),
  },
};

async function timed(fn: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function probe(dialect: DialectName, rows: number): Promise<void> {
  const setup = await createBenchSetup([{ name: 'src', dialect, sync: true }]);
  try {
    const { client } = await setup.handle('src');
    const q = (name: string) => client.dialect.sql.ident(name);
    const variants = VARIANTS[dialect]!;
    for (const [name, ddl] of Object.entries(variants)) {
      const create = salesOrderDdl(dialect).replace(/^CREATE TABLE (public\.)?sales_order/m, `CREATE TABLE ${q(name)}`);
      for (const statement of [...client.dialect.splitScript(create), ...ddl]) await client.exec(statement);
    }
    const tables = ['dsync (generated triggers)', ...Object.keys(variants)];
    const table = (name: string) => (name.startsWith('dsync') ? 'sales_order' : q(name));
    // µs per row, best of two rounds (alternating the order): the machine is shared.
    const best = new Map<string, { insert: number; update: number }>();
    for (const [round, order] of [tables, [...tables].reverse()].entries()) {
      for (const name of order) {
        const insert = ((await timed(() => insertGeneratedRows(client, round * rows, rows, rows, table(name)))) * 1000) / rows;
        // The UPDATE touches every row of the table: rows in round one, twice as many in round two.
        const update = ((await timed(() => updateAllRows(client, table(name)))) * 1000) / ((round + 1) * rows);
        const prev = best.get(name);
        best.set(name, { insert: Math.min(insert, prev?.insert ?? Infinity), update: Math.min(update, prev?.update ?? Infinity) });
      }
    }
    const plain = best.get('plain')!;
    console.log(`\n${dialect}: INSERT … SELECT of ${fmt(rows)} rows, then one UPDATE of every row`);
    console.log(
      `${'table'.padEnd(40)} ${'insert µs/row'.padStart(14)} ${'update µs/row'.padStart(14)} ${'× plain (ins/upd)'.padStart(20)}`,
    );
    for (const name of tables) {
      const b = best.get(name)!;
      console.log(
        `${name.padEnd(40)} ${fmt(b.insert, 2).padStart(14)} ${fmt(b.update, 2).padStart(14)} ${`${fmt(b.insert / plain.insert, 1)} / ${fmt(b.update / plain.update, 1)}`.padStart(20)}`,
      );
    }
  } finally {
    await setup.close();
  }
}

const rows = Number(process.argv[2] ?? 100_000);
const dialects = (process.argv[3] ?? 'postgres,sqlite,mysql').split(',') as DialectName[];
for (const dialect of dialects) {
  const why = await unavailableReason(dialect);
  if (why) console.log(`\n${dialect}: skipped (${why})`);
  else await probe(dialect, rows);
}
