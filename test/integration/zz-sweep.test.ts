import { it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { DialectName } from '../../src/core/dialect.ts';
import { insertRow, selectRow } from '../../src/runtime/import/dml.ts';
import { listParked } from '../../src/runtime/import/parking.ts';
import { createSyncPair } from '../helpers/sync-pair.ts';
import { writeFileSync } from 'node:fs';

const CASES: ValueMap[] = [
  { c_float: -0 }, { c_real: -0 }, { c_float: 'NaN' }, { c_float: 'Infinity' }, { c_float: '-Infinity' }, { c_real: 'NaN' }, { c_real: 'Infinity' },
  { c_decimal: 'NaN' }, { c_decimal: '-0.000000' }, { c_float: 5e-324 }, { c_float: 1.7976931348623157e308 }, { c_real: 3.4028234663852886e38 }, { c_real: 1.401298464324817e-45 },
  { c_real: 0.1 },
  { c_bigint: '9223372036854775807' }, { c_bigint: '-9223372036854775808' }, { c_bigint: 9007199254740993 }, { c_bigint: '9007199254740993' },
  { c_time: '24:00:00.000000' }, { c_time: '23:59:59.999999' }, { c_timestamp: '2000-01-01T00:00:00.000001' }, { c_timestamp: '1999-12-31T23:59:59.999999' },
  { c_timestamptz: '1970-01-01T00:00:00.000001Z' },
  { c_text: '' }, { c_varchar: '' }, { c_char: '' }, { c_char: 'ab   ' }, { c_char: '  ab' }, { c_varchar: 'ab   ' }, { c_text: 'a\u0000b' }, { c_varchar: 'a\u0000b' },
  { c_bytea: '' }, { c_bytea: 'AA==' }, { c_json: 'null' }, { c_json: '""' }, { c_json: '{"a":1e400}' }, { c_json: '1.0' }, { c_json: '{"a":1,"a":2}' },
  { c_text: '\r\n\t' }, { c_text: '\u{1F600}\uFFFF' }, { c_json: '"\\u0000"' },
];

const live: DialectName[] = ['postgres', 'sqlite', 'mysql'];
const pairs = live.flatMap((a) => live.map((b) => [a, b] as const)).filter(([a, b]) => process.env.SWEEP_ALL || a !== b || a === 'postgres');

it('sweep', { timeout: 600_000 }, async () => {
  const out: string[] = [];
  for (const [from, to] of pairs) {
    const pair = await createSyncPair(from, to);
    try {
      for (const [i, values] of CASES.entries()) {
        const id = 100 + i;
        let note = '';
        try {
          await insertRow(pair.a.client, pair.tables.a.type_zoo, { id, ...values });
        } catch (e) {
          out.push(`${from}->${to} ${JSON.stringify(values)}: SOURCE REFUSES ${(e as Error).message.slice(0, 100)}`);
          continue;
        }
        const src = await selectRow(pair.a.client, pair.tables.a.type_zoo, { id });
        const before = (await listParked(pair.b.client, true)).length;
        for (let t = 0; ; t++) { try { await pair.forward(); break; } catch (e) { if (t > 3) throw e; } }
        const parked = (await listParked(pair.b.client, true)).slice(before);
        const got = await selectRow(pair.b.client, pair.tables.b.type_zoo, { id });
        const col = Object.keys(values)[0];
        const s = src?.[col];
        const g = got?.[col];
        const same = Object.is(s, g) || JSON.stringify(s) === JSON.stringify(g);
        if (parked.length) note = `PARKED ${parked[0].reason.slice(0, 140)}`;
        else note = same ? 'same' : `BENT src=${JSON.stringify(s)} got=${JSON.stringify(g)} (sent ${JSON.stringify(values[col])})`;
        out.push(`${from}->${to} ${JSON.stringify(values)}: src=${JSON.stringify(s)} ${note}`);
        writeFileSync('/tmp/values-sweep/out.txt', out.join('\n'));
      }
    } finally {
      await pair.close();
    }
  }
  writeFileSync('/tmp/values-sweep/out.txt', out.join('\n'));
});
