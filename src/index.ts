/**
 * dsync as a library: capture changes from an application, open nodes, and run the
 * programs from code. The CLI (src/cli) is built on the same functions.
 */
export { captureChange, type AppChange, type CaptureOptions } from './runtime/capture/capture-api.ts';
export { type Config, loadConfigFile, parseConfig } from './config/config.ts';
export type { DbClient, Dialect, DialectName } from './core/dialect.ts';
export { DsyncError } from './core/errors.ts';
export { getDialect } from './dialects/registry.ts';
export { NodeSet } from './runtime/nodes.ts';
export { transportOnce } from './runtime/transport/transport.ts';
export { importOnce } from './runtime/import/import.ts';
export { syncAll } from './runtime/sync.ts';
