/**
 * Transaction nesting, written once (Kysely's split): a driver gives the primitives of
 * its brand, and `runTransaction` turns the outermost `transaction()` into
 * BEGIN/COMMIT/ROLLBACK and every nested one into a savepoint that is released on
 * success and rolled back to on failure, so a failed inner step undoes only itself.
 */

/** What a driver's connection can do; names come from `savepointName`. */
export interface TransactionPrimitives {
  begin(): Promise<void>;
  commit(): Promise<void>;
  /** Undoes the transaction after `error`; must not throw when the server already rolled it back. */
  rollback(error: unknown): Promise<void>;
  savepoint(name: string): Promise<void>;
  /** Closes a savepoint whose work is kept (a no-op where the brand has no RELEASE). */
  release(name: string): Promise<void>;
  /** Undoes the work since the savepoint after `error`; may throw when the whole transaction is lost. */
  rollbackTo(name: string, error: unknown): Promise<void>;
  /** Runs after the outermost transaction ends, committed or not (clears per-transaction state). */
  end?(): Promise<void>;
}

/** `ds_sp_<depth>_<n>`: unique on the connection and at most 32 characters (SQL Server's limit). */
export function savepointName(depth: number, n: number): string {
  return `ds_sp_${depth}_${n}`;
}

/**
 * Runs `body` in a transaction at nesting `depth` (0 = none open yet): a real
 * transaction at depth 0, a savepoint named `name()` below it.
 */
export async function runTransaction<T>(
  primitives: TransactionPrimitives,
  depth: number,
  name: () => string,
  body: () => Promise<T>,
): Promise<T> {
  if (depth > 0) {
    const savepoint = name();
    await primitives.savepoint(savepoint);
    try {
      const result = await body();
      await primitives.release(savepoint);
      return result;
    } catch (error) {
      await primitives.rollbackTo(savepoint, error);
      throw error;
    }
  }
  await primitives.begin();
  try {
    const result = await body();
    await primitives.commit();
    return result;
  } catch (error) {
    await primitives.rollback(error);
    throw error;
  } finally {
    await primitives.end?.();
  }
}
