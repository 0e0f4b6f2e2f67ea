/**
 * Drift of a synchronized table (src/migrate/drift.ts), without a database: the capture
 * file's `-- dsync:columns` header, column changes (added, dropped, retyped) between
 * what the applied triggers were generated from and the live table, and when a table
 * counts as drifted at all.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { postgresDialect } from '../../src/dialects/postgres/postgres-dialect.ts';
import { sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';
import { generateNode, readGeneratedFile } from '../../src/generate/generate.ts';
import { captureDrift, columnChanges, describeColumnChanges } from '../../src/migrate/drift.ts';

const config = parseConfig(
  {
    nodes: { n1: { dialect: 'sqlite', url: ':memory:', serverId: 's1' } },
    tables: ['orders'],
  },
  '/x',
  null,
  {},
);

const table = (extra: TableSchema['columns'] = [], quantityType = 'INTEGER'): TableSchema => ({
  name: 'orders',
  schema: null,
  primaryKey: ['id'],
  columns: [
    { name: 'id', family: 'integer', nativeType: 'INTEGER', nullable: false, default: null },
    { name: 'quantity', family: quantityType === 'INTEGER' ? 'integer' : 'text', nativeType: quantityType, nullable: true, default: null },
    ...extra,
  ],
});
const note = { name: 'note', family: 'text' as const, nativeType: 'TEXT', nullable: true, default: null };

const captureFile = (schema: TableSchema) => {
  const file = generateNode(config, config.nodes.n1, sqliteDialect, [schema]).find((f) => f.object === 'capture_orders');
  if (!file) throw new Error('no capture file');
  return file;
};

describe('the columns header of a capture file', () => {
  it('records name and native type of every captured column, outside the hashed body', () => {
    const file = captureFile(table([note]));
    expect(file.content).toContain('-- dsync:columns [["id","INTEGER"],["quantity","INTEGER"],["note","TEXT"]]');
    const read = readGeneratedFile(file.fileName, file.content);
    expect(read.columns).toEqual(file.columns);
    expect(read.actualHash).toBe(file.hash);
    expect(read.declaredHash).toBe(file.hash);
  });

  it('is absent from other files, and an unreadable one reads as none', () => {
    const other = generateNode(config, config.nodes.n1, sqliteDialect, [table()]).find((f) => f.object === 'ds_change_outbox')!;
    expect(other.content).not.toContain('dsync:columns');
    const file = captureFile(table());
    const broken = file.content.replace(/^-- dsync:columns .*$/m, '-- dsync:columns [oops');
    expect(readGeneratedFile(file.fileName, broken).columns).toBeUndefined();
  });

  it('keeps names with quotes, commas and spaces one line (PostgreSQL)', () => {
    const odd: TableSchema = {
      name: 'orders',
      schema: 'public',
      primaryKey: ['id'],
      columns: [
        { name: 'id', family: 'integer', nativeType: 'integer', nullable: false, default: null },
        { name: 'it\'s, "odd"', family: 'text', nativeType: 'text', nullable: true, default: null },
      ],
    };
    const pgConfig = parseConfig(
      { nodes: { n1: { dialect: 'postgres', url: 'postgres://x@h/d', serverId: 's1' } }, tables: ['orders'] },
      '/x',
      null,
      {},
    );
    const file = generateNode(pgConfig, pgConfig.nodes.n1, postgresDialect, [odd]).find((f) => f.object === 'capture_orders')!;
    expect(readGeneratedFile(file.fileName, file.content).columns).toEqual([
      ['id', 'integer'],
      ['it\'s, "odd"', 'text'],
    ]);
  });
});

describe('column changes', () => {
  it('names added, dropped and retyped columns', () => {
    const changes = columnChanges(
      [
        ['id', 'INTEGER'],
        ['quantity', 'INTEGER'],
        ['old', 'TEXT'],
      ],
      [
        ['id', 'INTEGER'],
        ['quantity', 'BIGINT'],
        ['note', 'TEXT'],
      ],
    );
    expect(changes).toEqual({ added: ['note'], dropped: ['old'], retyped: [{ name: 'quantity', from: 'INTEGER', to: 'BIGINT' }] });
    expect(describeColumnChanges(changes)).toBe('column note added; column old dropped; column quantity retyped INTEGER → BIGINT');
    expect(describeColumnChanges(columnChanges([['id', 'INTEGER']], [['id', 'INTEGER']]))).toBeNull();
  });
});

describe('captureDrift', () => {
  const before = captureFile(table());
  const onDisk = readGeneratedFile(before.fileName, before.content);
  const applied = { file: before.fileName, checksum: before.hash };

  it('is none when the applied triggers render from the live table, or were never applied', () => {
    expect(captureDrift('n1', before, onDisk, applied)).toBeNull();
    expect(captureDrift('n1', captureFile(table([note])), onDisk, undefined)).toBeNull();
  });

  it('names the columns added since the applied file was generated, and the fix', () => {
    const drift = captureDrift('n1', captureFile(table([note])), onDisk, applied);
    expect(drift).toMatchObject({
      node: 'n1',
      table: 'orders',
      file: before.fileName,
      columns: { added: ['note'], dropped: [], retyped: [] },
      summary: 'column note added',
      fix: 'dsync generate --node n1 && dsync apply --node n1',
    });
  });

  it('names a dropped and a retyped column', () => {
    const withNote = captureFile(table([note]));
    const drift = captureDrift('n1', captureFile(table([], 'TEXT')), readGeneratedFile(withNote.fileName, withNote.content), {
      file: withNote.fileName,
      checksum: withNote.hash,
    });
    expect(drift?.summary).toBe('column note dropped; column quantity retyped INTEGER → TEXT');
  });

  it('still reports drift, without columns, when the applied file is no longer on disk', () => {
    const regenerated = captureFile(table([note]));
    const drift = captureDrift('n1', regenerated, readGeneratedFile(regenerated.fileName, regenerated.content), applied);
    expect(drift?.columns).toBeNull();
    expect(drift?.summary).toMatch(/another version of the file/);
  });
});
