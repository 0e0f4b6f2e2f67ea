/**
 * Heavy dependencies (node-sql-parser, handlebars, sql-formatter, zod) load on first
 * use, not when the module that needs them is imported: `dsync --version` and `dsync
 * status` must not pay for the SQL parser or the template engine.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A getter that loads `name` the first time it is called and returns it ever after. */
export function lazyRequire<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(name) as T);
}
