/**
 * Probe: what a PostgreSQL UPDATE of version entries costs by what it sends (BulkWriter.updateRows,
 * src/runtime/import/version-store.ts): 12,000 of 200,000 entries updated from arrays, in shapes taken
 * in turn, each in its own transaction, on one node of the bench's schema.
 *
 *   npx tsx bench/probes/entry-update.ts [rounds=8]
 *
 * Shapes: `seven`, every column in an array (the import before the twenty-first session); `fixed`,
 * table_name given once; `moved`, table_name given once and only max_version and col_versions (an
 * update's entry, whose causal length and base stay).
 */
import type { TypeFamily } from '../../src/core/schema.ts';
import { postgresBulk } from '../../src/dialects/postgres/postgres-bulk.ts';
import { createBenchSetup } from '../nodes.ts';

const rounds = Number(process.argv[2] ?? 8);
const ENTRIES = 200_000;
const UPDATED = 12_000;
const TABLE = 'public.probe';

const shapes: Record<string, { columns: string[]; families: TypeFamily[]; key: string[]; fixed: boolean }> = {
  seven: {
    columns: ['table_name', 'row_key', 'cl', 'max_version', 'base_version', 'base_server', 'col_versions'],
    families: ['text', 'text', 'bigint', 'bigint', 'bigint', 'text', 'text'],
    key: ['table_name', 'row_key'],
    fixed: false,
  },
  fixed: {
    columns: ['row_key', 'cl', 'max_version', 'base_version', 'base_server', 'col_versions'],
    families: ['text', 'bigint', 'bigint', 'bigint', 'text', 'text'],
    key: ['row_key'],
    fixed: true,
  },
  moved: { columns: ['row_key', 'max_version', 'col_versions'], families: ['text', 'bigint', 'text'], key: ['row_key'], fixed: true },
};

const setup = await createBenchSetup([{ name: 'n', dialect: 'postgres', sync: true }]);
try {
  const { client } = await setup.handle('n');
  await client.query(
    `INSERT INTO ds_row_version (table_name, row_key, cl, max_version, base_version, base_server, col_versions)
     SELECT $1, '[' || g || ']', 1, 1700000000000000 + g, 1700000000000000 + g, 'bench-a', '{}' FROM generate_series(1, ${ENTRIES}) AS g`,
    [TABLE],
  );
  await client.query('VACUUM ANALYZE ds_row_version');
  const times: Record<string, number[]> = { seven: [], fixed: [], moved: [] };
  let clock = 1_800_000_000_000_000;
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 ? Object.keys(shapes).reverse() : Object.keys(shapes)) {
      const shape = shapes[name];
      const keys = new Set<number>();
      while (keys.size < UPDATED) keys.add(1 + Math.floor(Math.random() * ENTRIES));
      clock += 1_000_000;
      const full: Record<string, (g: number, i: number) => unknown> = {
        table_name: () => TABLE,
        row_key: (g) => `[${g}]`,
        cl: () => 1,
        max_version: (_, i) => clock + i,
        base_version: (g) => 1_700_000_000_000_000 + g,
        base_server: () => 'bench-a',
        col_versions: (_, i) => `{"quantity":[${clock + i},"bench-b"]}`,
      };
      const rows = [...keys].map((g, i) => shape.columns.map((c) => full[c](g, i)));
      const t0 = performance.now();
      const matched = await client.transaction((tx) =>
        postgresBulk.updateRows!(
          tx,
          'ds_row_version',
          shape.columns,
          shape.families,
          shape.key,
          rows,
          shape.fixed ? { column: 'table_name', value: TABLE } : undefined,
        ),
      );
      times[name].push(performance.now() - t0);
      if (matched !== UPDATED) throw new Error(`${name} matched ${matched} of ${UPDATED}`);
    }
  }
  for (const [name, ms] of Object.entries(times))
    console.log(`${name}: ${ms.map((t) => t.toFixed(0)).join(' ')} ms (median ${ms.sort((a, b) => a - b)[ms.length >> 1].toFixed(0)})`);
} finally {
  await setup.close();
}
