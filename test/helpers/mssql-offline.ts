/**
 * The SQL Server fixture files, generated offline: no SQL Server runs here, so the
 * TableSchema[] that introspecting fixtures/schema/mssql.sql gives is written by hand in
 * fixtures/schema/mssql.json, and generated/mssql/ is rendered from it. Run
 * `npx tsx test/helpers/mssql-offline.ts` after changing an mssql template or that fixture;
 * test/unit/mssql-snapshot.test.ts checks that the committed files are current.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../src/config/config.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { mssqlDialect } from '../../src/dialects/mssql/mssql-dialect.ts';
import { type FileDifference, type GeneratedFile, generateNode, writeFiles } from '../../src/generate/generate.ts';
import { FIXTURES, fixtureConfig } from './fixtures.ts';

export function mssqlFixtureSchemas(): TableSchema[] {
  return JSON.parse(readFileSync(join(FIXTURES, 'schema', 'mssql.json'), 'utf8')) as TableSchema[];
}

export function mssqlFixtureConfig(): Config {
  return fixtureConfig({ mssql: 'mssql://offline' });
}

/** The files `dsync generate --node mssql` would write for the fixtures. */
export function generateMssqlOffline(config = mssqlFixtureConfig()): GeneratedFile[] {
  return generateNode(config, config.nodes.mssql, mssqlDialect, mssqlFixtureSchemas());
}

export function mssqlGeneratedDir(config = mssqlFixtureConfig()): string {
  return join(config.generatedDir, 'mssql');
}

/** Writes generated/mssql/ and returns what changed. */
export function writeMssqlOffline(): FileDifference[] {
  return writeFiles(mssqlGeneratedDir(), generateMssqlOffline());
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const changes = writeMssqlOffline();
  console.log(changes.length ? changes.map((c) => `${c.change} ${c.fileName}`).join('\n') : 'generated/mssql is up to date');
}
