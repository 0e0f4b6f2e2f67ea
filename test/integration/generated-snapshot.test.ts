/**
 * The committed generated/ SQL of every fixture equals a fresh generation, checked
 * with the same `dsync generate --check` users put in their CI (exit 0 when current,
 * 1 with a summary when not).
 */
import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

  it('--check exits 1 and names the file when one differs (on a copy, never the committed files)', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'dsync-check-'));
    try {
      cpSync(join(ROOT, 'generated', dialect), join(copy, dialect), { recursive: true });
      appendFileSync(join(copy, dialect, '0101_capture_sales_order.sql'), '-- edited\n');
      const result = await generateFixtureNode(dialect, true, copy);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/changed\s+\S*0101_capture_sales_order\.sql/);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
