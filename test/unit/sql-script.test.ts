import { describe, expect, it } from 'vitest';
import { splitSqlScript } from '../../src/core/sql-script.ts';

describe('splitSqlScript', () => {
  it('splits on semicolons outside quotes and comments', () => {
    expect(splitSqlScript('SELECT \'a;b\'; -- c;\nSELECT "x;y" /* ; */;\n\n')).toEqual(["SELECT 'a;b'", '-- c;\nSELECT "x;y" /* ; */']);
  });
  it('keeps PostgreSQL dollar-quoted bodies whole', () => {
    const fn = 'CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ LANGUAGE plpgsql';
    expect(splitSqlScript(`${fn};\nSELECT 1;`, { dollarQuotes: true })).toEqual([fn, 'SELECT 1']);
  });
  it('keeps SQLite trigger bodies whole, CASE … END inside them too', () => {
    const trigger = "CREATE TRIGGER t AFTER INSERT ON x BEGIN INSERT INTO y VALUES (CASE WHEN 1 THEN 'a;' END); UPDATE z SET a = 1; END";
    expect(splitSqlScript(`${trigger};\nSELECT 1;`, { beginEndBlocks: true })).toEqual([trigger, 'SELECT 1']);
  });
  it('follows MySQL DELIMITER lines', () => {
    const script =
      'CREATE TABLE a (x int);\nDELIMITER $$\nCREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET @x = 1; END$$\nDELIMITER ;\nSELECT 1;';
    expect(splitSqlScript(script, { delimiterDirective: true })).toEqual([
      'CREATE TABLE a (x int)',
      'CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET @x = 1; END',
      'SELECT 1',
    ]);
  });
  it('splits SQL Server scripts on GO lines only', () => {
    expect(
      splitSqlScript('CREATE TABLE a (x int);\nSELECT 1;\nGO\nCREATE TRIGGER t ON a AFTER INSERT AS BEGIN SELECT 1; END\ngo\n', {
        goBatches: true,
      }),
    ).toEqual(['CREATE TABLE a (x int);\nSELECT 1;', 'CREATE TRIGGER t ON a AFTER INSERT AS BEGIN SELECT 1; END']);
  });
  it('handles doubled quotes and MySQL backslash escapes', () => {
    expect(splitSqlScript("SELECT 'it''s;'; SELECT 2")).toEqual(["SELECT 'it''s;'", 'SELECT 2']);
    expect(splitSqlScript("SELECT 'a\\';'; SELECT 2", { backslashEscapes: true })).toEqual(["SELECT 'a\\';'", 'SELECT 2']);
  });
});
