/**
 * A DbClient that counts and times every statement it sends, by statement shape: the
 * profile of a drain in round trips. It wraps the real client with a Proxy, so every
 * dialect-specific method and `instanceof` check still reach the real one.
 */
import type { DbClient } from '../src/core/dialect.ts';

export interface StatementStats {
  shape: string;
  count: number;
  ms: number;
  /** The largest single measurement of the shape. */
  max: number;
  /** KiB by which the process's peak RSS rose inside statements of the shape, where they run in the process (traceClient). */
  peakRiseKb: number;
}

/** A trace's findings as a drain reports them (StatementTrace). */
export interface TracedStatements {
  total: number;
  /** Most time first. */
  top: StatementStats[];
  /** The in-process shapes inside which the peak RSS rose most. */
  peakRises: StatementStats[];
  /** KiB the peak rose inside in-process statements in all. */
  peakRiseKb: number;
}

export class StatementTrace {
  private readonly byShape = new Map<string, StatementStats>();
  /** With `timeline`: every statement in order, its start and end (performance.now()). */
  readonly sequence: Array<{ shape: string; start: number; end: number }> = [];

  constructor(private readonly timeline = false) {}

  record(sql: string, ms: number, peakRiseKb = 0): void {
    if (this.timeline)
      this.sequence.push({ shape: sql.replace(/\s+/g, ' ').slice(0, 60), start: performance.now() - ms, end: performance.now() });
    const shape = sql
      .replace(/\s+/g, ' ')
      .replace(/\$\d+|\?/g, '?')
      .replace(/(\(\?(, \?)*\)(, )?){2,}/g, '(…rows…)')
      .slice(0, 90);
    let stats = this.byShape.get(shape);
    if (!stats) this.byShape.set(shape, (stats = { shape, count: 0, ms: 0, max: 0, peakRiseKb: 0 }));
    stats.count++;
    stats.ms += ms;
    stats.max = Math.max(stats.max, ms);
    stats.peakRiseKb += peakRiseKb;
  }

  /** With `timeline`: each statement in order, with the time before it (the process's own work since the last ended) and its own. */
  timelineLines(from: number): string[] {
    return this.sequence.map(({ shape, start, end }, i) => {
      const before = start - (i === 0 ? from : this.sequence[i - 1].end);
      return `  +${before.toFixed(1).padStart(6)} ms before, ${(end - start).toFixed(1).padStart(6)} ms  ${shape}`;
    });
  }

  /** Most time first. */
  top(n = 15): StatementStats[] {
    return [...this.byShape.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, n)
      .map((s) => ({ ...s, ms: Math.round(s.ms) }));
  }

  /** The shapes inside which the process's peak RSS rose, most first: what sets a drain's peak where the database runs in the process. */
  peakRises(n = 3): StatementStats[] {
    return [...this.byShape.values()]
      .filter((s) => s.peakRiseKb > 0)
      .sort((a, b) => b.peakRiseKb - a.peakRiseKb)
      .slice(0, n)
      .map((s) => ({ ...s, ms: Math.round(s.ms) }));
  }

  /** KiB by which the peak rose inside in-process statements (the rest of a drain's rise came outside them). */
  get peakRiseKb(): number {
    let kb = 0;
    for (const s of this.byShape.values()) kb += s.peakRiseKb;
    return kb;
  }

  get statements(): number {
    let n = 0;
    for (const s of this.byShape.values()) n += s.count;
    return n;
  }
}

/** The process's peak RSS so far, in KiB (getrusage). */
const peakRssKb = () => process.resourceUsage().maxRSS;

/**
 * `clock`: what a statement is measured by, in ms (default: the time it takes; e.g. a server process's CPU), read
 * before and after it; `after`, when given, is read after it instead (e.g. a peak since `clock` reset it). Where the
 * database runs in the process (SQLite: better-sqlite3 runs a statement synchronously, where no timer can sample the
 * memory it takes), the rise of the process's peak RSS inside each statement is recorded besides; a server's
 * statement is awaited while the process does other work, so a rise then is not the statement's.
 */
export function traceClient(
  client: DbClient,
  trace: StatementTrace,
  clock: () => number = () => performance.now(),
  after: () => number = clock,
): DbClient {
  const inProcess = client.dialect.name === 'sqlite';
  /** A point to time from: the clock and the process's peak RSS. */
  const markNow = () => ({ started: clock(), peak: inProcess ? peakRssKb() : 0 });
  /** Records `label` from `mark` to now; the next mark. */
  const recorded = (label: string, mark: { started: number; peak: number }) => {
    trace.record(label, after() - mark.started, inProcess ? peakRssKb() - mark.peak : 0);
    return markNow();
  };
  const timed = async <T>(label: string, run: () => Promise<T>): Promise<T> => {
    const mark = markNow();
    try {
      return await run();
    } finally {
      recorded(label, mark);
    }
  };
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'query') return (sql: string, params?: readonly unknown[]) => timed(sql, () => target.query(sql, params));
      if (prop === 'queryArrays' && target.queryArrays)
        return (sql: string, params?: readonly unknown[]) => timed(sql, () => target.queryArrays!(sql, params));
      const copy = (target as { copyFrom?: (sql: string, data: Iterable<string>) => Promise<number> }).copyFrom;
      if (prop === 'copyFrom' && copy) return (sql: string, data: Iterable<string>) => timed(sql, () => copy.call(target, sql, data));
      const load = (target as { loadData?: (sql: string, data: Iterable<string>) => Promise<unknown> }).loadData;
      if (prop === 'loadData' && load) return (sql: string, data: Iterable<string>) => timed(sql, () => load.call(target, sql, data));
      if (prop === 'exec') return (script: string) => timed(script, () => target.exec(script));
      if (prop === 'queryMany' && target.queryMany)
        return (statements: readonly string[]) =>
          timed(`[${statements.length} in one round trip] ${statements.join('; ')}`, () => target.queryMany!(statements));
      if (prop === 'transaction') {
        // Its BEGIN (or SAVEPOINT) is timed until the body starts, its COMMIT (or RELEASE) from the body's end until the
        // transaction returns: a commit's own work shows (on SQLite, the WAL write and any checkpoint it runs).
        return async <T>(fn: (tx: DbClient) => Promise<T>): Promise<T> => {
          let mark = markNow();
          try {
            const result = await target.transaction(async (tx) => {
              mark = recorded('BEGIN or SAVEPOINT', mark);
              try {
                return await fn(traceClient(tx, trace, clock, after));
              } finally {
                mark = markNow();
              }
            });
            recorded('COMMIT or RELEASE', mark);
            return result;
          } catch (error) {
            recorded('ROLLBACK or ROLLBACK TO', mark);
            throw error;
          }
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
