/**
 * dsync as a library: open the nodes of a config, generate and apply the sync objects,
 * capture changes from an application, run the programs once, all of them to the end,
 * or as a daemon, verify, and resolve parked changes. The CLI (src/cli) is a thin face
 * over these same functions. docs/library.md shows them in use.
 *
 * The usual shape: `const nodes = new NodeSet(config)`, call functions with
 * `(config, nodes, …)`, and `await nodes.closeAll()` in a `finally`.
 */
import { importOnce as importPass } from './runtime/import/import.ts';
import { transportOnce as transportPass } from './runtime/transport/transport.ts';

// Config: read a file, or validate an object built in code.
export {
  CAPTURE_MODES,
  type CaptureMode,
  captureMode,
  type Config,
  CONFLICT_POLICIES,
  type ConflictPolicy,
  getNode,
  getProgram,
  loadConfigFile,
  type ImportProgram,
  type NodeConfig,
  parseConfig,
  type ProgramConfig,
  type TableConfig,
  type TransportProgram,
} from './config/config.ts';

// Nodes: connections opened on first use, closed together.
export { type NodeHandle, NodeSet } from './runtime/nodes.ts';
export type { DbClient, Dialect, DialectName, Row } from './core/dialect.ts';
export { getDialect } from './dialects/registry.ts';
export type { ColumnSchema, TableSchema } from './core/schema.ts';

// Generate and apply the sync objects (outbox, inbox, triggers, …) of a node.
export {
  type FileDifference,
  type GeneratedFile,
  type GenerateResult,
  generateForNode as generate,
  writeGenerated,
} from './generate/generate.ts';
export { type ApplyResult, type ApplyStep, applyToNode as apply } from './migrate/apply.ts';
export { type ColumnChanges, type NodePlan, type PlannedFile, planForNode as plan, type TableDrift } from './migrate/drift.ts';

// Capture from an application, in its own transaction.
export { type AppChange, type CaptureOptions, captureChange, captureChanges } from './runtime/capture/capture-api.ts';
export { type CapturePassOptions, type CaptureResult, capturePass } from './runtime/capture/capture-pass.ts';

// Run the programs: one pass, everything until done, or the daemon.
export type { ImportResult } from './runtime/import/import.ts';
export type { TransportResult } from './runtime/transport/transport.ts';
export { captureLogPass, type LogCaptureOptions, type LogCaptureResult } from './runtime/capture/log-capture.ts';
export { runProgramOnce, type SyncReport, syncAll, syncAll as sync } from './runtime/sync.ts';
export { Daemon, type DaemonOptions, type ProgramMetrics } from './runtime/daemon/daemon.ts';
export { type RunningDaemon, type StartDaemonOptions, startDaemon } from './runtime/daemon/start-daemon.ts';

/**
 * One pass of a transport program: moves committed outbox rows of `source` above the
 * program's pointer into the inbox of `target` (never a change back to the node it came
 * from; a resend is absorbed by the inbox's unique origin key), and moves the pointer.
 * `runProgramOnce(config, nodes, program)` picks the nodes for you.
 */
export const transportOnce: typeof transportPass = transportPass;

/**
 * One pass of an import program: applies the inbox rows of `handle`'s node above the
 * program's pointer to its tables, merging column by column with the table's conflict
 * policy; a change that fails is parked and later changes of other rows go on.
 * `runProgramOnce(config, nodes, program)` picks the node for you.
 */
export const importOnce: typeof importPass = importPass;

// Status, verify, parked changes.
export { type NodeDrift, type NodeParked, type ProgramStatus, readDrift, readStatus, type StatusReport } from './runtime/status.ts';
export { type VerifyOptions, type VerifyReport, type VerifyTableReport, verifyNodes as verify } from './verify/verify-nodes.ts';
export type { CompareResult, RowDifference } from './verify/compare-tables.ts';
export {
  listParkedChanges,
  type ParkedChange,
  type ParkedOptions,
  parkedChangeNode,
  type ResolveResult,
  type RetryAllResult,
  retryAllParkedChanges,
  retryParkedChange,
  skipParkedChange,
} from './runtime/parked.ts';

// Errors: every error dsync throws on purpose is a DsyncError with a stable `code`.
export {
  ApplyError,
  ChangeError,
  ConfigError,
  ConnectionError,
  DriftError,
  DsyncError,
  IntrospectionError,
  RuntimeError,
  TemplateError,
} from './core/errors.ts';

export { type DemoResult, runDemo } from './runtime/demo.ts';
export { DSYNC_VERSION } from './core/version.ts';
