/**
 * `dsync apply`: runs a node's generated files like a migration tool. The ledger
 * (ds_schema_migrations: file, checksum, applied_at) makes a re-run a no-op; a file
 * edited by hand, files that are stale against the live tables, and an applied table
 * file whose content changed are drift, reported with the command that fixes it.
 */
import { join } from 'node:path';
import { captureMode, type Config, type NodeConfig } from '../config/config.ts';
import type { DbClient, Dialect } from '../core/dialect.ts';
import { ApplyError, DriftError, DsyncError, describeError } from '../core/errors.ts';
import { utcNow } from '../core/utc-time.ts';
import { compareFiles, type FileOnDisk, generateNode, introspectTables, listGeneratedFiles } from '../generate/generate.ts';
import { rendererFor } from '../generate/render.ts';
import { primaryKeyColumns, type TableSchema } from '../core/schema.ts';
import type { NodeSet } from '../runtime/nodes.ts';
import { columnChanges, describeColumnChanges, tableOfCapture } from './drift.ts';

export type StepAction = 'apply' | 'reapply' | 'skip';

export interface ApplyStep {
  file: string;
  action: StepAction;
  statements: number;
  /** Set after a real run. */
  status?: 'applied' | 'skipped' | 'failed';
  reason?: string;
}

export interface ApplyResult {
  node: string;
  dryRun: boolean;
  steps: ApplyStep[];
  /** Things about the node's tables that apply does not stop for but a person should know (one line each). */
  warnings: string[];
}

type LedgerRow = {
  file: string;
  checksum: string;
  applied_at: unknown;
};

async function readLedger(client: DbClient, dialect: Dialect): Promise<Map<string, LedgerRow>> {
  for (const statement of rendererFor(dialect).render('ledger', {})) await client.exec(statement);
  // `file` is a reserved word in T-SQL: quoted through the dialect.
  const { rows } = await client.query<LedgerRow>(`SELECT ${dialect.sql.ident('file')}, checksum, applied_at FROM ds_schema_migrations`);
  return new Map(rows.map((r) => [r.file, r]));
}

/**
 * A key column that compares case- or accent-insensitively holds one row for keys that
 * other nodes keep apart ('abc' and 'ABC'): their changes would land on one row, the
 * later recorded as a conflict and applied over the earlier (docs/types.md).
 */
export function keyCollationWarnings(node: NodeConfig, schemas: TableSchema[]): string[] {
  return schemas.flatMap((table) =>
    primaryKeyColumns(table)
      .filter((c) => c.caseInsensitive)
      .map(
        (c) =>
          `node ${node.name}: table ${table.name}, key column ${c.name} has collation ${c.collation ?? '(unnamed)'}, which compares case- or accent-insensitively: ` +
          `keys that differ only in case or accents ('abc', 'ABC') are one row here, so their changes from another node merge into that row ` +
          `(recorded as conflicts and applied over each other). Give the column a binary or case- and accent-sensitive collation if other nodes can hold such keys.`,
      ),
  );
}

/**
 * Files edited by hand, or files that no longer match the live tables, stop the apply
 * before anything runs. Returns the live tables it read.
 */
async function checkDrift(
  config: Config,
  node: NodeConfig,
  dialect: Dialect,
  client: DbClient,
  dir: string,
  files: FileOnDisk[],
): Promise<TableSchema[]> {
  if (files.length === 0) {
    throw new ApplyError('nothing_generated', `no generated files for node ${node.name} in ${dir}`, {
      hint: `run \`dsync generate --node ${node.name}\` first`,
    });
  }
  const edited = files.find((f) => f.declaredHash !== f.actualHash);
  if (edited) {
    throw new DriftError(
      'file_edited',
      `drift: ${join(dir, edited.fileName)} was edited by hand (its content no longer matches its hash)`,
      {
        hint: `run \`dsync generate --node ${node.name}\` to restore it; change the config or the templates instead of the file`,
      },
    );
  }
  const schemas = await introspectTables(config, dialect, client);
  const expected = generateNode(config, node, dialect, schemas);
  const stale = compareFiles(dir, expected);
  if (stale.length > 0) {
    const onDisk = new Map(files.map((f) => [f.fileName, f]));
    const fresh = new Map(expected.map((f) => [f.fileName, f]));
    const what = stale.map((d) => {
      if (d.change !== 'changed') return `${d.fileName} ${d.change === 'added' ? 'missing' : 'no longer generated'}`;
      // A capture file: name the table's column changes since the file on disk was generated.
      const before = onDisk.get(d.fileName)?.columns;
      const after = fresh.get(d.fileName)?.columns;
      const columns = before && after ? describeColumnChanges(columnChanges(before, after)) : null;
      return `${d.fileName} out of date${columns ? ` (table ${tableOfCapture(fresh.get(d.fileName)!)}: ${columns})` : ''}`;
    });
    throw new DriftError(
      'files_stale',
      `drift: generated files of node ${node.name} do not match its tables and config (${what.join('; ')})`,
      {
        hint: `a synchronized table or the config changed: run \`dsync generate --node ${node.name}\`, review the diff, then \`dsync apply --node ${node.name}\` (\`dsync plan\` shows what would change)`,
      },
    );
  }
  return schemas;
}

/** Id counters the safe horizon cannot cover (a cached PostgreSQL sequence) stop the apply before anything runs. */
async function checkIdCounters(dialect: Dialect, client: DbClient, node: NodeConfig) {
  try {
    await dialect.checkIdCounters?.(client);
  } catch (error) {
    if (!(error instanceof DsyncError)) throw error;
    throw new ApplyError(error.code, `node ${node.name}: ${error.message}`, error.details, { cause: error });
  }
}

function plan(files: FileOnDisk[], ledger: Map<string, LedgerRow>, dialect: Dialect, node: NodeConfig): ApplyStep[] {
  return files.map((file) => {
    const applied = ledger.get(file.fileName);
    const statements = dialect.splitScript(file.content).length;
    if (!applied) return { file: file.fileName, action: 'apply', statements };
    if (applied.checksum === file.actualHash) return { file: file.fileName, action: 'skip', statements };
    if (file.replaceable) return { file: file.fileName, action: 'reapply', statements };
    throw new DriftError(
      'applied_changed',
      `drift: ${file.fileName} on node ${node.name} was applied with other content (applied ${String(applied.applied_at)})`,
      {
        hint: `tables are not altered by apply: change the table by hand to match ${file.fileName}, then record it with \`DELETE FROM ds_schema_migrations WHERE ${dialect.sql.ident('file')} = '${file.fileName}'\` and \`dsync apply --node ${node.name}\``,
      },
    );
  });
}

async function runFile(tx: DbClient, dialect: Dialect, file: FileOnDisk, node: NodeConfig) {
  const statements = dialect.splitScript(file.content);
  for (const [index, statement] of statements.entries()) {
    try {
      await tx.exec(statement);
    } catch (error) {
      const firstLine = statement.split('\n').find((l) => l.trim() && !l.startsWith('--')) ?? statement;
      throw new ApplyError(
        'statement_failed',
        `node ${node.name}: ${file.fileName} statement ${index + 1} (${firstLine.trim().slice(0, 80)}) failed: ${describeError(error)}`,
        {
          file: file.fileName,
          hint: dialect.capabilities.transactionalDdl
            ? 'nothing was changed; fix the cause and run apply again'
            : 'files before this one were applied; fix the cause and run apply again',
        },
        { cause: error },
      );
    }
  }
  const now = utcNow();
  const p = (i: number) => dialect.sql.param(i);
  const fileColumn = dialect.sql.ident('file');
  await tx.query(`DELETE FROM ds_schema_migrations WHERE ${fileColumn} = ${p(1)}`, [file.fileName]);
  await tx.query(`INSERT INTO ds_schema_migrations (${fileColumn}, checksum, applied_at) VALUES (${p(1)}, ${p(2)}, ${p(3)})`, [
    file.fileName,
    file.actualHash,
    now,
  ]);
}

/**
 * Applies a node's generated files (from `<config.generatedDir>/<node>/`) like a
 * migration tool: files already in the ledger `ds_schema_migrations` with the same
 * checksum are skipped, replaceable ones that changed are re-run, in one transaction
 * where the brand has transactional DDL. Drift (a hand-edited file, a released file
 * that changed, a table whose columns no longer match its triggers) throws a
 * DriftError. `dryRun` (default false) plans without changing anything.
 */
export async function applyNode(
  config: Config,
  node: NodeConfig,
  dialect: Dialect,
  client: DbClient,
  options: { dryRun?: boolean } = {},
): Promise<ApplyResult> {
  const dir = join(config.generatedDir, node.name);
  const files = listGeneratedFiles(dir);
  const schemas = await checkDrift(config, node, dialect, client, dir, files);
  await checkIdCounters(dialect, client, node);
  const ledger = await readLedger(client, dialect);
  const steps = plan(files, ledger, dialect, node);
  const result: ApplyResult = { node: node.name, dryRun: options.dryRun === true, steps, warnings: keyCollationWarnings(node, schemas) };
  if (options.dryRun) return result;
  await ensureLogSlot(config, node, dialect, client);
  const todo = files.filter((_, i) => steps[i].action !== 'skip');
  const runAll = async (tx: DbClient) => {
    for (const file of todo) await runFile(tx, dialect, file, node);
  };
  try {
    if (dialect.capabilities.transactionalDdl) await client.transaction(runAll);
    else await runAll(client);
  } catch (error) {
    const failed = error instanceof ApplyError ? error.details.file : undefined;
    for (const step of steps) if (step.file === failed) Object.assign(step, { status: 'failed', reason: describeError(error) });
    throw error;
  }
  for (const step of steps) step.status = step.action === 'skip' ? 'skipped' : 'applied';
  return result;
}

/**
 * A node with log-mode tables gets its replication slot before the transaction that drops
 * their triggers: the slot holds every change from before that commit, and the capture
 * files record where the triggers stopped (docs/capture-modes.md#log). Kept on every apply,
 * so a dropped slot comes back (what was written without one is not in it: dsync verify).
 */
async function ensureLogSlot(config: Config, node: NodeConfig, dialect: Dialect, client: DbClient): Promise<void> {
  if (!dialect.changeLog || !config.tables.some((t) => captureMode(config, node.name, t.name) === 'log')) return;
  try {
    await dialect.changeLog.ensureSlot(client, node.name);
  } catch (error) {
    if (!(error instanceof DsyncError)) throw error;
    throw new ApplyError(error.code, error.message, error.details, { cause: error });
  }
}

/** {@link applyNode} for a node of a NodeSet: `applyToNode(config, nodes, 'testapp1')`. */
export async function applyToNode(
  config: Config,
  nodes: NodeSet,
  nodeName: string,
  options: { dryRun?: boolean } = {},
): Promise<ApplyResult> {
  const { node, dialect, client } = await nodes.get(nodeName);
  return applyNode(config, node, dialect, client, options);
}
