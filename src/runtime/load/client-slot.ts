/**
 * A DbClient that forwards to whichever transaction is current, so that readers built
 * once (RangeReader caches its statements) can read inside each chunk's transaction.
 */
import type { DbClient, Dialect, QueryResult, Row } from '../../core/dialect.ts';

export class ClientSlot implements DbClient {
  private current: DbClient;
  readonly dialect: Dialect;

  /** `lockless`: reads never lock (a load must not hold up the source's writers), so `forUpdate` and `lockHint` are dropped. */
  constructor(
    private readonly base: DbClient,
    lockless = false,
  ) {
    this.current = base;
    this.dialect = lockless
      ? Object.create(base.dialect, {
          sql: { value: Object.create(base.dialect.sql, { forUpdate: { value: '' }, lockHint: { value: '' } }) },
        })
      : base.dialect;
  }

  /** Runs `fn` in a transaction of the base client (passed as is: dialect methods want the real one), with this slot forwarding to it. */
  async within<T>(fn: (tx: DbClient) => Promise<T>): Promise<T> {
    return this.base.transaction(async (tx) => {
      this.current = tx;
      try {
        return await fn(tx);
      } finally {
        this.current = this.base;
      }
    });
  }

  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
    return this.current.query<T>(sql, params);
  }

  exec(script: string): Promise<void> {
    return this.current.exec(script);
  }

  transaction<T>(fn: (tx: DbClient) => Promise<T>): Promise<T> {
    return this.current.transaction(fn);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
