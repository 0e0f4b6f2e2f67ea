/**
 * What `dsync generate` + `dsync apply` would change on a node, without changing
 * anything (`dsync plan`, `dsync status`, `dsync apply`'s drift messages): the files
 * that would be written, the files the ledger would run, and per synchronized table
 * whether its applied capture triggers still match the live table (drift: columns
 * added, dropped or retyped since they were generated).
 *
 * What the applied triggers were generated from is read back from the capture file's
 * `-- dsync:columns` header, when the file on disk is the one the ledger applied (same
 * checksum); when the live table renders to the applied checksum, nothing drifted.
 */
import { join } from 'node:path';
import type { Config, NodeConfig } from '../config/config.ts';
import type { DbClient, Dialect, Row } from '../core/dialect.ts';
import {
  type CapturedColumn,
  compareFiles,
  type FileOnDisk,
  type GeneratedFile,
  generateNode,
  introspectTables,
  listGeneratedFiles,
} from '../generate/generate.ts';
import type { NodeSet } from '../runtime/nodes.ts';

/** A column whose native type changed between the applied triggers and the live table. */
export interface RetypedColumn {
  name: string;
  from: string;
  to: string;
}

export interface ColumnChanges {
  added: string[];
  dropped: string[];
  retyped: RetypedColumn[];
}

/**
 * A synchronized table whose applied capture triggers are not what the live table and
 * config generate: they capture the old column set until regenerated and applied.
 */
export interface TableDrift {
  node: string;
  table: string;
  /** The capture file, e.g. `0101_capture_sales_order.sql`. */
  file: string;
  /** Column changes since the applied triggers were generated; null when the applied file is no longer on disk to tell. */
  columns: ColumnChanges | null;
  /** One line: what changed, for people. */
  summary: string;
  /** The commands that fix it. */
  fix: string;
}

/** One generated file: how it compares on disk, and what apply would do with it once written. */
export interface PlannedFile {
  file: string;
  /** Fresh render against the files on disk: `new`, `changed`, `unchanged`, or `removed` (on disk, no longer generated). */
  disk: 'new' | 'changed' | 'unchanged' | 'removed';
  /** Against the ledger: `apply` (never applied), `reapply` (replaceable, applied with other content), `skip`, `blocked` (a released file applied with other content: apply stops with drift `applied_changed`). */
  ledger: 'apply' | 'reapply' | 'skip' | 'blocked' | 'none';
  /** Why, for a capture file with drift. */
  reason?: string;
}

export interface NodePlan {
  node: string;
  /** The node's folder of generated files. */
  dir: string;
  files: PlannedFile[];
  drift: TableDrift[];
  /** True when `dsync generate` would write something or `dsync apply` would run something. */
  pending: boolean;
}

type LedgerEntry = { file: string; checksum: string };

/** The ledger as it is, without creating it (a node never applied has none: every file is to apply). */
export async function readLedgerReadOnly(client: DbClient, dialect: Dialect): Promise<Map<string, LedgerEntry> | null> {
  if (!(await dialect.tableExists(client, 'ds_schema_migrations'))) return null;
  // `file` is a reserved word in T-SQL: quoted through the dialect.
  const { rows } = await client.query<Row>(`SELECT ${dialect.sql.ident('file')} AS f, checksum FROM ds_schema_migrations`);
  return new Map(rows.map((r) => [String(r.f), { file: String(r.f), checksum: String(r.checksum) }]));
}

/** Column changes from `before` (what the triggers were generated from) to `after` (the live table). */
export function columnChanges(before: CapturedColumn[], after: CapturedColumn[]): ColumnChanges {
  const old = new Map(before);
  const now = new Map(after);
  return {
    added: after.filter(([name]) => !old.has(name)).map(([name]) => name),
    dropped: before.filter(([name]) => !now.has(name)).map(([name]) => name),
    retyped: after
      .filter(([name, type]) => old.has(name) && old.get(name) !== type)
      .map(([name, type]) => ({ name, from: old.get(name)!, to: type })),
  };
}

/** `column note added; column qty retyped integer → bigint`, or null when no column changed. */
export function describeColumnChanges(changes: ColumnChanges): string | null {
  const parts = [
    ...changes.added.map((c) => `column ${c} added`),
    ...changes.dropped.map((c) => `column ${c} dropped`),
    ...changes.retyped.map((c) => `column ${c.name} retyped ${c.from} → ${c.to}`),
  ];
  return parts.length ? parts.join('; ') : null;
}

/**
 * Drift of one capture file: `applied` is the ledger entry, `disk` the file on disk, `fresh`
 * what the live table renders to. Null when the applied triggers are current (or never applied).
 */
export function captureDrift(
  node: string,
  fresh: GeneratedFile,
  disk: FileOnDisk | undefined,
  applied: LedgerEntry | undefined,
): TableDrift | null {
  if (!fresh.columns || !applied || applied.checksum === fresh.hash) return null;
  const appliedColumns = disk && disk.actualHash === applied.checksum ? disk.columns : undefined;
  const columns = appliedColumns ? columnChanges(appliedColumns, fresh.columns) : null;
  const described = columns ? describeColumnChanges(columns) : null;
  const summary =
    described ??
    (columns
      ? 'the generated triggers changed (template, config or dsync version), the columns did not'
      : 'the applied triggers were generated from another version of the file (no longer on disk): they do not match the live table and config');
  return {
    node,
    table: tableOfCapture(fresh),
    file: fresh.fileName,
    columns,
    summary,
    fix: `dsync generate --node ${node} && dsync apply --node ${node}`,
  };
}

/** The configured table name of a capture file (its header comment names it; the file stem may be shortened). */
export function tableOfCapture(file: GeneratedFile): string {
  const match = /object: capture triggers of (.*)$/m.exec(file.content);
  return match ? match[1] : file.object.replace(/^capture_/, '');
}

/**
 * What `dsync generate` then `dsync apply` would change on a node: reads the live tables,
 * the files on disk and the ledger, and changes nothing (not even the ledger table).
 */
export async function planNode(config: Config, node: NodeConfig, dialect: Dialect, client: DbClient): Promise<NodePlan> {
  const dir = join(config.generatedDir, node.name);
  const schemas = await introspectTables(config, dialect, client);
  const fresh = generateNode(config, node, dialect, schemas);
  const onDisk = new Map(listGeneratedFiles(dir).map((f) => [f.fileName, f]));
  const ledger = (await readLedgerReadOnly(client, dialect)) ?? new Map<string, LedgerEntry>();
  const diskChange = new Map(compareFiles(dir, fresh).map((d) => [d.fileName, d.change]));
  const files: PlannedFile[] = [];
  const drift: TableDrift[] = [];
  for (const file of fresh) {
    const change = diskChange.get(file.fileName);
    const applied = ledger.get(file.fileName);
    const ledgerAction = !applied ? 'apply' : applied.checksum === file.hash ? 'skip' : file.replaceable ? 'reapply' : 'blocked';
    const tableDrift = captureDrift(node.name, file, onDisk.get(file.fileName), applied);
    if (tableDrift) drift.push(tableDrift);
    files.push({
      file: file.fileName,
      disk: change === 'added' ? 'new' : change === 'changed' ? 'changed' : 'unchanged',
      ledger: ledgerAction,
      ...(tableDrift ? { reason: `${tableDrift.table}: ${tableDrift.summary}` } : {}),
    });
  }
  for (const [fileName, change] of diskChange) {
    if (change === 'removed') files.push({ file: fileName, disk: 'removed', ledger: 'none' });
  }
  const pending = files.some((f) => f.disk !== 'unchanged' || (f.ledger !== 'skip' && f.ledger !== 'none'));
  return { node: node.name, dir, files, drift, pending };
}

/**
 * The drift of a node's synchronized tables alone, as {@link planNode} finds it: renders only
 * each table's capture file, so that `dsync status` does not format every shared object.
 */
export async function driftOfNode(config: Config, nodes: NodeSet, nodeName: string): Promise<TableDrift[]> {
  const { node, dialect, client } = await nodes.get(nodeName);
  const fresh = generateNode(config, node, dialect, await introspectTables(config, dialect, client), { tablesOnly: true });
  const onDisk = new Map(listGeneratedFiles(join(config.generatedDir, node.name)).map((f) => [f.fileName, f]));
  const ledger = (await readLedgerReadOnly(client, dialect)) ?? new Map<string, LedgerEntry>();
  return fresh.flatMap((file) => captureDrift(node.name, file, onDisk.get(file.fileName), ledger.get(file.fileName)) ?? []);
}

/** {@link planNode} for a node of a NodeSet. */
export async function planForNode(config: Config, nodes: NodeSet, nodeName: string): Promise<NodePlan> {
  const { node, dialect, client } = await nodes.get(nodeName);
  return planNode(config, node, dialect, client);
}
