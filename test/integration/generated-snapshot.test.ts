/**
 * The committed generated/ SQL of every fixture equals a fresh generation, checked
 * with the same `dsync generate --check` users put in their CI (exit 0 when current,
 * 1 with a summary when not).
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { liveDialects } from '../helpers/databases.ts';
import { ROOT } from '../helpers/fixtures.ts';
import { generateFixtureNode } from '../helpers/generated-fixtures.ts';

const dialects = (await liveDialects()).filter((d) => d !== 'mssql');

describe.each(dialects)('generated/%s', (dialect) => {
  it('is what `dsync generate` produces from the fixtures, byte for byte', async () => {
    const result = await generateFixtureNode(dialect, true);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/up to date/);
    expect(result.code).toBe(0);
  });

  it('--check exits 1 and names the file when one differs', async () => {
    const file = join(ROOT, 'generated', dialect, '0101_capture_sales_order.sql');
    const original = readFileSync(file, 'utf8');
    try {
      appendFileSync(file, '-- edited\n');
      const result = await generateFixtureNode(dialect, true);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/changed\s+\S*0101_capture_sales_order\.sql/);
    } finally {
      writeFileSync(file, original);
    }
  });
});
