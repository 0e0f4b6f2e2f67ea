/**
 * `dsync run`: every program in its own loop, each with its own connections (a
 * transaction never shares a connection with another program). A loop runs its
 * program, runs it again at once while there is work, and otherwise sleeps its
 * interval; an import is woken as soon as a transport of this daemon filled its inbox.
 * SIGTERM/SIGINT (or the abort signal) stop every loop after its current pass.
 * A failing pass is retried with backoff (backoff.ts); every program keeps its own loop
 * and connections, so one failing program never stops the others.
 */
import { EventEmitter } from 'node:events';
import type { DbClient, Row } from '../../core/dialect.ts';
import { type Config, type ProgramConfig, programHome, type TransportProgram } from '../../config/config.ts';
import { describeError, DsyncError } from '../../core/errors.ts';
import { type Logger, lineLogger, silentLogger } from '../../core/log.ts';
import { capturePass, captured, passCaptured } from '../capture/capture-pass.ts';
import { type ImportResult, summary } from '../import/import.ts';
import { NodeSet } from '../nodes.ts';
import { readProgramState } from '../program-state.ts';
import { purgeNode } from '../purge.ts';
import { readBacklog, readParked } from '../status.ts';
import { programScope, runProgramOnce, workDone } from '../sync.ts';
import type { Halves } from '../transport/nats-transport.ts';
import type { MovedBatch, SendingBatch, TransportResult } from '../transport/transport.ts';
import { retryDelaySeconds } from './backoff.ts';
import { DaemonMetrics } from './daemon-metrics.ts';
import { LagHistory, SAMPLE_SECONDS } from './lag-history.ts';

/** How often a node that cannot notify is asked for its change marker. */
const MARKER_POLL_SECONDS = 0.1;

/** The longest a direct transport waits for the pass of the import it woke before it finishes its own (afterNextPass). */
const PASS_WAIT_MS = 50;

/** How often a daemon asked to stop reports the loops it still waits for (reportStopping). */
const STOP_REPORT_SECONDS = 10;

/** Most inbox rows kept for an import's next pass (handOver): more are read from the inbox as always. */
const HANDED_AT_MOST = 1000;

/** An inbox write a direct transport has sent, offered to the import it wakes (Daemon.sendings). */
interface OfferedWrite {
  program: number;
  batch: SendingBatch;
  taken: boolean;
  ended: Promise<void>;
  passEnded: boolean;
}

export interface ProgramMetrics {
  program: ProgramConfig;
  runs: number;
  errors: number;
  moved: number;
  applied: number;
  parked: number;
  conflicts: number;
  pointer: number | null;
  lastRunAt: number | null;
  lastError: string | null;
  /** The DsyncError code of the last failure ('unexpected' for anything else). */
  lastErrorCode: string | null;
  lastErrorAt: number | null;
  /** When the current run of failures began; null while the latest pass succeeded. */
  failingSince: number | null;
  /** Failures in a row (the backoff's exponent). */
  failures: number;
  /** When a failing program tries again. */
  retryAt: number | null;
}

const errorCode = (error: unknown) => (error instanceof DsyncError ? error.code : 'unexpected');

export interface DaemonOptions {
  signal?: AbortSignal;
  /** Structured log (core/log.ts); silent when absent. */
  logger?: Logger;
  /** Readable lines instead of a logger (library callers); ignored when `logger` is given. */
  log?: (line: string) => void;
  /** Called after every pass (tests and the bench watch progress through it). */
  onPass?: (metrics: ProgramMetrics, result: TransportResult | ImportResult | null) => void;
  /** Run only what touches this node (programScope): one daemon per site. */
  node?: string;
  /** The longest a direct transport waits for the pass of the import it woke before its own tail (default 50 ms; see afterNextPass). */
  passWaitMs?: number;
  /** While stopping, how often the loops still running are logged (default 10 s; see reportStopping). */
  stopReportSeconds?: number;
}

/** Runs every program of a config in its own loop until stopped; {@link startDaemon} starts one with its HTTP endpoints. */
export class Daemon {
  readonly metrics = new Map<number, ProgramMetrics>();
  readonly startedAt = Date.now();
  /** Prometheus metrics of this daemon (its own registry). */
  readonly prom: DaemonMetrics;
  /** Backlog and lag of every program over the last hour (the status page's chart). */
  readonly history = new LagHistory();
  private readonly log: Logger;
  private readonly wakes = new EventEmitter();
  /** Wake-ups that came while their loop was busy: its next sleep returns at once instead of losing them. */
  private readonly pendingWakes = new Set<string>();
  private stopping = false;
  /** When stop() was first called, and its timer of reportStopping. */
  private stopAsked: { at: number; timer: NodeJS.Timeout } | null = null;
  /** What each running loop is doing and since when, by the loop's name (doing): reportStopping names the ones a stop waits for. */
  private readonly activity = new Map<string, { what: string; since: number }>();
  private readonly sleepers = new Set<() => void>();
  /** One pass at a time per node whose brand cannot take concurrent writers (SQLite): see withWriters. */
  private readonly nodeLocks = new Map<string, Promise<void>>();
  /** The programs this daemon runs, and which halves of a NATS transport. */
  private readonly scopes = new Map<number, Halves>();
  /** Nodes whose commits this daemon hears (LISTEN is open), and since when: a commit after that wakes its programs. */
  private readonly listening = new Map<string, number>();
  /** Wake keys of the import loops that answer a wake-up with a pass (running, latest pass not failed): see afterNextPass. */
  private readonly answering = new Set<string>();
  /** Who waits for the end of the next pass of a loop, by its wake key (afterNextPass). */
  private readonly passWaiters = new Map<string, Set<() => void>>();
  /** Inbox rows a direct transport of this daemon inserted, for the next pass of the import they wake, by its wake key (handOver). */
  private readonly handed = new Map<string, Row[]>();
  /**
   * An inbox write a direct transport of this daemon has sent, for the import it wakes, by its
   * wake key (onSending; one at a time): a pass that starts before the write returns takes it
   * (`taken`) and begins its batch meanwhile; `ended` is the end of that pass (afterNextPass),
   * `passEnded` says it came before the write returned (the write is then handed over as always).
   */
  private readonly sendings = new Map<string, OfferedWrite>();
  /** Sessions of this daemon's direct transports in a pass, as `node:session`, on the nodes whose inbox they write (heard). */
  private readonly inboxWriters = new Set<string>();

  constructor(
    readonly config: Config,
    private readonly options: DaemonOptions = {},
  ) {
    this.wakes.setMaxListeners(0);
    this.log = options.logger ?? (options.log ? lineLogger(options.log) : silentLogger());
    for (const program of config.programs) {
      const halves = programScope(program, options.node);
      if (!halves) continue;
      this.scopes.set(program.id, halves);
      this.metrics.set(program.id, {
        program,
        runs: 0,
        errors: 0,
        moved: 0,
        applied: 0,
        parked: 0,
        conflicts: 0,
        pointer: null,
        lastRunAt: null,
        lastError: null,
        lastErrorCode: null,
        lastErrorAt: null,
        failingSince: null,
        failures: 0,
        retryAt: null,
      });
    }
    this.prom = new DaemonMetrics(config.programs, { healthy: () => this.healthy(), failingSeconds: (p) => this.failingSeconds(p.id) });
  }

  /** Runs until stopped; resolves when every loop has ended and every connection is closed. */
  async run(): Promise<void> {
    const onAbort = () => this.stop();
    this.options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.all([
        ...this.programs()
          .filter((p) => !p.paused)
          .map((program) => this.tracked(`program ${program.id}`, (loop) => this.loop(loop, program))),
        this.tracked('purge', (loop) => this.purgeLoop(loop)),
        this.tracked('sampler', (loop) => this.sampleLoop(loop)),
        ...this.captureNodes().map((n) => this.tracked(`capture ${n}`, (loop) => this.captureLoop(loop, n))),
        ...this.watchedNodes().map((n) => this.tracked(`watch ${n}`, (loop) => this.watch(loop, n))),
      ]);
    } finally {
      this.options.signal?.removeEventListener('abort', onAbort);
      if (this.stopAsked) clearInterval(this.stopAsked.timer);
    }
  }

  stop(): void {
    this.stopping = true;
    // Reported only while loops run: run() clears the timer when the last one ends.
    if (!this.stopAsked && this.activity.size > 0) {
      const timer = setInterval(() => this.reportStopping(), (this.options.stopReportSeconds ?? STOP_REPORT_SECONDS) * 1000);
      this.stopAsked = { at: Date.now(), timer: timer.unref() };
    }
    for (const wake of this.sleepers) wake();
    for (const waiters of this.passWaiters.values()) for (const done of waiters) done();
  }

  /** The loops still running, each with what it is doing and for how long, as in reportStopping's line. */
  stillRunning(now = Date.now()): string[] {
    return [...this.activity].map(([loop, { what, since }]) => `${loop} (${what}, ${((now - since) / 1000).toFixed(1)} s)`);
  }

  /** A stop that takes long says what it waits for: a pass that holds a lock, a node that does not answer. */
  private reportStopping(): void {
    if (!this.stopAsked || this.activity.size === 0) return;
    const seconds = Math.round((Date.now() - this.stopAsked.at) / 1000);
    const waiting = this.stillRunning();
    this.log.warn({ event: 'still_stopping', seconds, waiting }, `still stopping after ${seconds} s; waiting for: ${waiting.join('; ')}`);
  }

  /** Runs the loop `body`, known as `loop` to doing and reportStopping while it runs. */
  private async tracked(loop: string, body: (loop: string) => Promise<void>): Promise<void> {
    this.doing(loop, 'starting');
    try {
      await body(loop);
    } finally {
      this.activity.delete(loop);
    }
  }

  /** Records what loop `loop` does now (reportStopping). */
  private doing(loop: string, what: string): void {
    this.activity.set(loop, { what, since: Date.now() });
  }

  /** Healthy while no program has been failing for longer than its failAfterSeconds: one failed pass is not an outage. */
  healthy(now = Date.now()): boolean {
    return [...this.metrics.values()].every((m) => m.failingSince === null || now - m.failingSince <= m.program.failAfterSeconds * 1000);
  }

  /** Seconds program `id` has been failing; 0 when its latest pass succeeded. */
  failingSeconds(id: number, now = Date.now()): number {
    const since = this.metrics.get(id)?.failingSince ?? null;
    return since === null ? 0 : (now - since) / 1000;
  }

  /**
   * A commit heard on node `name`. One that a direct transport of this daemon made in the inbox
   * during its pass wakes nothing: the transport wakes that import itself, with the rows, when
   * its write has returned (onMoved), or when its pass fails. Waking it here as well would start
   * a pass without the rows, often before the write's answer is back, or an idle one after it.
   */
  private heard(name: string, table: 'outbox' | 'inbox', session: number | undefined): void {
    if (table === 'inbox' && session !== undefined && this.inboxWriters.has(`${name}:${session}`)) return;
    this.wake(`${table}:${name}`);
  }

  private wake(key: string): void {
    this.pendingWakes.add(key);
    this.wakes.emit(key);
  }

  /**
   * Resolves when the next pass of the loop that `key` wakes has ended, or after passWaitMs;
   * at once when no loop of this daemon answers `key` now. Call it before the wake-up, so the
   * pass it answers is one that starts after it.
   */
  private afterNextPass(key: string): Promise<void> {
    if (this.stopping || !this.answering.has(key)) return Promise.resolve();
    let waiters = this.passWaiters.get(key);
    if (!waiters) this.passWaiters.set(key, (waiters = new Set()));
    const own = waiters;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        own.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.options.passWaitMs ?? PASS_WAIT_MS);
      own.add(done);
    });
  }

  /**
   * Keeps the inbox rows a transport just inserted and committed for the next pass of the import
   * that `key` wakes, which starts from them when they follow its pointer (importOnce's `handed`).
   * Rows that follow the ones kept are added to them; others replace them (the import checks).
   */
  private handOver(key: string, rows: Row[]): void {
    const kept = this.handed.get(key);
    const last = kept?.length ? Math.max(...kept.map((r) => Number(r.id))) : Number.NaN;
    const follows =
      kept !== undefined && Math.min(...rows.map((r) => Number(r.id))) === last + 1 && kept.length + rows.length <= HANDED_AT_MOST;
    this.handed.set(key, follows ? [...kept, ...rows] : rows);
  }

  /** Registers the session of `client`, a direct transport's connection to `node`, as writing its inbox (heard); the key to delete. */
  private inboxWriter(node: string, client: DbClient): string | undefined {
    if (client.sessionId === undefined) return undefined;
    const key = `${node}:${client.sessionId}`;
    this.inboxWriters.add(key);
    return key;
  }

  /** The waiters a pass that starts now answers (afterNextPass): it calls them when it ends. */
  private takePassWaiters(key: string): Set<() => void> | undefined {
    const waiters = this.passWaiters.get(key);
    this.passWaiters.delete(key);
    return waiters;
  }

  private sleep(seconds: number, wakeOn: string | null): Promise<void> {
    // stop() wakes the sleepers of its moment; a loop that was between its check and its sleep then must not sleep at all.
    if (this.stopping) return Promise.resolve();
    if (wakeOn && this.pendingWakes.delete(wakeOn)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (wakeOn) this.pendingWakes.delete(wakeOn);
        clearTimeout(timer);
        if (wakeOn) this.wakes.off(wakeOn, done);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, seconds * 1000);
      if (wakeOn) this.wakes.once(wakeOn, done);
      this.sleepers.add(done);
    });
  }

  /**
   * Runs `fn` holding the in-process lock of every node in `names` whose brand cannot
   * take concurrent writers. Without it, two loops of this process would hold
   * connections to one SQLite file, and one loop's (synchronous) busy wait for the
   * write lock would block the event loop that the other needs to reach its COMMIT.
   */
  private async withWriters<T>(loop: string, nodes: NodeSet, names: string[], fn: () => Promise<T>): Promise<T> {
    const exclusive: string[] = [];
    const before = this.activity.get(loop);
    for (const name of [...new Set(names)].sort()) {
      if (!(await nodes.get(name)).dialect.capabilities.concurrentWriters) exclusive.push(name);
    }
    const releases: Array<() => void> = [];
    try {
      for (const name of exclusive) {
        const previous = this.nodeLocks.get(name) ?? Promise.resolve();
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        const chained = previous.then(() => held);
        this.nodeLocks.set(name, chained);
        this.doing(loop, `waiting for node ${name}, which takes one writer at a time`);
        await previous;
        releases.push(() => {
          release();
          if (this.nodeLocks.get(name) === chained) this.nodeLocks.delete(name);
        });
      }
      if (before && exclusive.length > 0) this.activity.set(loop, before);
      return await fn();
    } finally {
      for (const release of releases.reverse()) release();
    }
  }

  private programs(): ProgramConfig[] {
    return this.config.programs.filter((p) => this.scopes.has(p.id));
  }

  /** The nodes a program's pass of this daemon writes or reads. */
  private nodesOf(program: ProgramConfig): string[] {
    if (program.type === 'import') return [program.node];
    if (!program.via) return [program.from, program.to];
    const halves = this.scopes.get(program.id) ?? { publish: true, deliver: true };
    return [...(halves.publish ? [program.from] : []), ...(halves.deliver ? [program.to] : [])];
  }

  /** Nodes whose outbox a transport of this daemon reads, or whose inbox an import applies (only the daemon's own node when scoped). */
  private watchedNodes(): string[] {
    const homes = this.programs().map(programHome);
    return [...new Set(this.options.node === undefined ? homes : homes.filter((n) => n === this.options.node))];
  }

  /**
   * Wake on change: a commit that wrote a node's outbox wakes the transports reading it,
   * one that wrote its inbox wakes its import, without waiting for their interval. Brands
   * that notify (PostgreSQL LISTEN) are listened to; the others are polled with a cheap
   * marker (the tables' highest ids) every MARKER_POLL_SECONDS.
   */
  private async watch(loop: string, name: string): Promise<void> {
    const node = this.config.nodes[name];
    const nodes = new NodeSet(this.config);
    let failures = 0;
    try {
      while (!this.stopping) {
        let listener: { close(): Promise<void> } | null = null;
        try {
          this.doing(loop, `connecting to node ${name}`);
          const { dialect } = await nodes.get(name);
          if (dialect.listenForChanges) {
            listener = await dialect.listenForChanges(node.url, name, (table, session) => this.heard(name, table, session));
            this.listening.set(name, performance.now());
            if (failures > 0) this.log.info({ event: 'watch_resumed', node: name }, `node ${name}: change watch resumed`);
            failures = 0;
            // A failure may have cut the LISTEN connection without a word: it is reopened when a program using this node recovers.
            this.doing(loop, 'listening');
            await this.sleep(3600, `relisten:${name}`);
            continue;
          }
          let last: Record<string, number | null> = {};
          while (!this.stopping) {
            const now: Record<string, number | null> = {};
            this.doing(loop, `reading node ${name}'s change marker`);
            await this.withWriters(loop, nodes, [name], async () => {
              for (const table of ['outbox', 'inbox'] as const) {
                const { rows } = await (await nodes.get(name)).client.query<Row>(`SELECT max(id) AS id FROM ds_change_${table}`);
                now[table] = rows[0].id === null ? null : Number(rows[0].id);
                if (table in last && now[table] !== last[table]) this.wake(`${table}:${name}`);
              }
            });
            last = now;
            if (failures > 0) this.log.info({ event: 'watch_resumed', node: name }, `node ${name}: change watch resumed`);
            failures = 0;
            this.doing(loop, 'sleeping');
            await this.sleep(MARKER_POLL_SECONDS, null);
          }
        } catch (error) {
          // Without a watcher the programs still run at their interval; the watch is retried with backoff.
          failures++;
          if (failures === 1) {
            this.log.warn(
              { event: 'watch_stopped', node: name, code: errorCode(error) },
              `node ${name}: change watch stopped (${describeError(error)}); programs run at their interval until it resumes`,
            );
          }
          await nodes.closeAll();
          if (!this.stopping) await this.sleep(retryDelaySeconds(MARKER_POLL_SECONDS, failures), null);
        } finally {
          this.listening.delete(name);
          if (listener) this.doing(loop, `closing its LISTEN connection to node ${name}`);
          await listener?.close().catch(() => undefined);
        }
      }
    } finally {
      await this.closing(loop, nodes);
    }
  }

  /** Nodes in this daemon's scope with tables in capture mode query. */
  private captureNodes(): string[] {
    return Object.keys(this.config.nodes).filter(
      (n) => (this.options.node === undefined || this.options.node === n) && passCaptured(this.config, n).length > 0,
    );
  }

  /**
   * Capture mode query: a capture pass over the node's tables at the interval of the
   * fastest transport reading the node (5 s without one); again at once while it finds
   * changes. A failure is logged and retried with backoff; the passes keep their state in
   * the database, so a retry continues where the failed one stopped.
   */
  private async captureLoop(loop: string, name: string): Promise<void> {
    const nodes = new NodeSet(this.config);
    const intervals = this.config.programs.filter((p) => p.type === 'transport' && p.from === name).map((p) => p.intervalSeconds);
    const interval = intervals.length ? Math.min(...intervals) : 5;
    let failures = 0;
    try {
      while (!this.stopping) {
        let busy = false;
        this.doing(loop, 'a capture pass');
        try {
          const results = await this.withWriters(loop, nodes, [name], () => capturePass(this.config, nodes, name));
          const count = results.reduce((n, r) => n + captured(r), 0);
          busy = count > 0;
          if (busy) {
            this.wake(`outbox:${name}`);
            this.log.info({ event: 'captured', node: name, captured: count }, `capture ${name}: ${count} change(s)`);
          }
          failures = 0;
        } catch (error) {
          failures++;
          this.log.warn({ event: 'capture_failed', node: name, code: errorCode(error) }, `capture ${name}: ${describeError(error)}`);
          await nodes.closeAll();
        }
        if (this.stopping) break;
        this.doing(loop, 'sleeping');
        if (failures > 0) await this.sleep(retryDelaySeconds(interval, failures), null);
        else if (!busy) await this.sleep(interval, null);
      }
    } finally {
      await this.closing(loop, nodes);
    }
  }

  /** Retention: consumed outbox and inbox rows are purged every `retention.purgeIntervalSeconds`. */
  private async purgeLoop(loop: string): Promise<void> {
    const nodes = new NodeSet(this.config);
    try {
      while (!this.stopping) {
        this.doing(loop, 'sleeping');
        await this.sleep(this.config.retention.purgeIntervalSeconds, null);
        if (this.stopping) break;
        for (const name of this.watchedNodes()) {
          // A stop waits for the node in hand, not for the others: what is left waits for the next purge.
          if (this.stopping) break;
          this.doing(loop, `purging node ${name}`);
          try {
            const r = await this.withWriters(loop, nodes, [name], () => purgeNode(this.config, nodes, name));
            if (r.outboxDeleted + r.inboxDeleted > 0) {
              this.log.info(
                { event: 'purged', node: name, outboxDeleted: r.outboxDeleted, inboxDeleted: r.inboxDeleted },
                `purge ${name}: ${r.outboxDeleted} outbox and ${r.inboxDeleted} inbox row(s)`,
              );
            }
          } catch (error) {
            this.log.warn({ event: 'purge_failed', node: name, code: errorCode(error) }, `purge ${name}: ${describeError(error)}`);
            await nodes.closeAll();
          }
        }
      }
    } finally {
      await this.closing(loop, nodes);
    }
  }

  /**
   * Every SAMPLE_SECONDS: each program's backlog and lag (history and gauges) and each
   * import node's parked changes. A node that does not answer leaves a gap, nothing more.
   */
  private async sampleLoop(loop: string): Promise<void> {
    const nodes = new NodeSet(this.config);
    const importNodes = [...new Set(this.config.programs.filter((p) => p.type === 'import').map(programHome))];
    try {
      while (!this.stopping) {
        for (const program of this.config.programs) {
          // A stop does not wait for the rest of a round: samples only feed the chart and the gauges.
          if (this.stopping) break;
          const home = programHome(program);
          this.doing(loop, `reading program ${program.id}'s backlog at node ${home}`);
          try {
            const backlog = await this.withWriters(loop, nodes, [home], async () => {
              const handle = await nodes.get(home);
              return readBacklog(handle, program, (await readProgramState(handle.client, program, home)).pointer);
            });
            this.history.add(program.id, { at: Date.now(), backlog: backlog.rows, lagSeconds: backlog.lagSeconds });
            this.prom.sampled(program, backlog.rows, backlog.lagSeconds);
          } catch {
            // The program's own loop reports the failure; a broken connection is reopened next time.
            await nodes.closeAll();
          }
        }
        for (const name of importNodes) {
          if (this.stopping) break;
          this.doing(loop, `reading node ${name}'s parked changes`);
          try {
            const p = await this.withWriters(loop, nodes, [name], async () => readParked(await nodes.get(name), name));
            this.prom.parked(name, p.open ?? 0, p.waiting ?? 0, p.conflicts ?? 0);
          } catch {
            await nodes.closeAll();
          }
        }
        if (this.stopping) break;
        this.doing(loop, 'sleeping');
        await this.sleep(SAMPLE_SECONDS, null);
      }
    } finally {
      await this.closing(loop, nodes);
    }
  }

  private async loop(loop: string, program: ProgramConfig): Promise<void> {
    const metrics = this.metrics.get(program.id)!;
    const fields = { program: program.id, node: programHome(program) };
    /** A direct transport: its commits in the destination's inbox are heard as its own (inboxWriter). */
    const direct = program.type === 'transport' && !program.via ? program : undefined;
    // A direct transport's commits do not wait for the disk: it flushes its destination before moving its pointer (transportOnce).
    // Not into a directApply node, whose transport commits each batch where it is applied: a flush after each would cost a round trip.
    const nodes = new NodeSet(this.config, { lazyCommits: direct !== undefined && !this.config.nodes[direct.to]?.directApply });
    const wakeOn = program.type === 'import' ? `inbox:${program.node}` : `outbox:${program.from}`;
    // A direct transport wakes its destination's import as soon as the inbox write commits, not at the end of its pass;
    // after its pass's last batch it lets that import's pass run before its own tail (flush, pointer save, held-back count),
    // unless the import could not run beside it anyway (a node lock this pass holds: SQLite).
    const onMoved =
      program.type === 'transport'
        ? ({ last, rows }: MovedBatch) => {
            const key = `inbox:${program.to}`;
            const sent = this.sendings.get(key)?.program === program.id ? this.sendings.get(key) : undefined;
            if (sent) this.sendings.delete(key);
            // A pass that took the write applies these rows, or reads the inbox once the write has returned: no wake-up, no rows.
            if (sent?.taken && !sent.passEnded) return last ? sent.ended : undefined;
            const ended = last && !this.nodeLocks.has(program.to) ? this.afterNextPass(key) : undefined;
            if (rows?.length) this.handOver(key, rows);
            this.wake(key);
            return ended;
          }
        : undefined;
    // The import of the destination may begin its batch while the write is on its way, when it is idle and would read nothing else first.
    const onSending = direct
      ? (batch: SendingBatch) => {
          const key = `inbox:${direct.to}`;
          if (!this.answering.has(key) || this.handed.has(key) || this.sendings.has(key) || this.nodeLocks.has(direct.to)) return;
          this.sendings.set(key, { program: direct.id, batch, taken: false, ended: this.afterNextPass(key), passEnded: false });
          this.wake(key);
        }
      : undefined;
    if (program.type === 'import') this.answering.add(wakeOn);
    try {
      while (!this.stopping) {
        let busy = false;
        /** Busy, but nothing can be waiting that would not wake it (see drained). */
        let quiet = false;
        let heldBack = false;
        let retryIn: number | null = null;
        const started = performance.now();
        let answered: Set<() => void> | undefined;
        let writer: string | undefined;
        let sent: OfferedWrite | undefined;
        this.doing(loop, 'a pass');
        try {
          const result = await this.withWriters(loop, nodes, this.nodesOf(program), async () => {
            // A wake-up that came before this pass reads its table is answered by it: only one that comes later makes another pass.
            this.pendingWakes.delete(wakeOn);
            answered = this.takePassWaiters(wakeOn);
            // Rows handed over before this pass reads anything are its to start from (the import checks that they follow its pointer).
            const handed = this.handed.get(wakeOn);
            this.handed.delete(wakeOn);
            sent = handed ? undefined : this.sendings.get(wakeOn);
            if (sent) sent.taken = true;
            if (direct) writer = this.inboxWriter(direct.to, (await nodes.get(direct.to)).client);
            return runProgramOnce(this.config, nodes, program, this.scopes.get(program.id), {
              onMoved,
              onSending,
              handed,
              sending: sent?.batch,
            });
          }).finally(() => {
            for (const done of answered ?? []) done();
            if (writer) this.inboxWriters.delete(writer);
            if (sent) sent.passEnded = true;
          });
          if (program.type === 'import') this.answering.add(wakeOn);
          const seconds = Math.round(performance.now() - started) / 1000;
          metrics.runs++;
          metrics.lastRunAt = Date.now();
          metrics.pointer = result.pointer;
          if (metrics.failingSince !== null) {
            for (const name of program.type === 'transport' ? [program.from, program.to] : [program.node]) this.wake(`relisten:${name}`);
            this.log.info(
              {
                event: 'recovered',
                ...fields,
                failures: metrics.failures,
                failedSeconds: (metrics.lastRunAt - metrics.failingSince) / 1000,
              },
              `program ${program.id}: recovered after ${metrics.failures} failed pass(es)`,
            );
          }
          metrics.failingSince = null;
          metrics.failures = 0;
          metrics.retryAt = null;
          heldBack = result.heldBack > 0;
          // A pass that read up to its horizon, with nothing held back, on a node that is heard: what was committed
          // after it started has woken it already (pendingWakes), so it runs again only then, not at once.
          const drained = !heldBack && result.pointer >= result.horizon && !(program.type === 'transport' && program.via);
          busy = workDone(result) > 0;
          quiet = busy && drained && (this.listening.get(programHome(program)) ?? Number.POSITIVE_INFINITY) <= started;
          if ('moved' in result) {
            metrics.moved += result.moved;
            this.prom.passDone(program, seconds, { pointer: result.pointer, moved: result.moved });
            if (result.moved > 0) {
              // A direct transport woke it already (onMoved): once more would only make an idle pass.
              if ((program as TransportProgram).via) this.wake(`inbox:${(program as TransportProgram).to}`);
              this.log.info(
                { event: 'moved', ...fields, to: (program as TransportProgram).to, moved: result.moved, seconds },
                `program ${program.id}: moved ${result.moved}`,
              );
            }
          } else {
            metrics.applied += result.applied;
            metrics.parked += result.parked + result.waiting;
            metrics.conflicts += result.conflicts;
            this.prom.passDone(program, seconds, {
              pointer: result.pointer,
              applied: result.applied,
              parked: result.parked + result.waiting,
              conflicts: result.conflicts,
            });
            if (busy) {
              this.log.info(
                {
                  event: 'applied',
                  ...fields,
                  applied: result.applied,
                  parked: result.parked,
                  waiting: result.waiting,
                  conflicts: result.conflicts,
                  seconds,
                },
                `program ${program.id}: ${summary(result)}`,
              );
            }
          }
          this.options.onPass?.(metrics, result);
        } catch (error) {
          // Its commits in the inbox woke nothing while it ran (heard): the import looks now. A write it sent is not coming.
          if (direct) {
            if (this.sendings.get(`inbox:${direct.to}`)?.program === direct.id) this.sendings.delete(`inbox:${direct.to}`);
            this.wake(`inbox:${direct.to}`);
          }
          this.answering.delete(wakeOn);
          metrics.runs++;
          metrics.errors++;
          metrics.failures++;
          metrics.lastError = describeError(error);
          metrics.lastErrorCode = errorCode(error);
          metrics.lastErrorAt = Date.now();
          metrics.failingSince ??= metrics.lastErrorAt;
          retryIn = retryDelaySeconds(program.intervalSeconds, metrics.failures);
          metrics.retryAt = metrics.lastErrorAt + retryIn * 1000;
          this.prom.passFailed(program, (performance.now() - started) / 1000);
          this.log.warn(
            {
              event: 'pass_failed',
              ...fields,
              code: metrics.lastErrorCode,
              failures: metrics.failures,
              retryInSeconds: Math.round(retryIn * 100) / 100,
            },
            `program ${program.id}: ${metrics.lastError} (failure ${metrics.failures} in a row; next try in ${retryIn.toFixed(1)}s)`,
          );
          // A broken connection is reopened on the next pass.
          await nodes.closeAll();
          this.options.onPass?.(metrics, null);
        }
        if (this.stopping) break;
        this.doing(loop, 'sleeping');
        // Backoff ignores wake-ups (a source that keeps writing must not hammer a target that is down); they wait for the next sleep.
        if (retryIn !== null) await this.sleep(retryIn, null);
        // Rows held back by an open transaction become safe when it ends: look again soon (not faster than MySQL's 100 ms list refresh).
        else if (!busy || quiet) await this.sleep(heldBack ? Math.min(program.intervalSeconds, 0.2) : program.intervalSeconds, wakeOn);
      }
    } finally {
      if (program.type === 'import') this.answering.delete(wakeOn);
      for (const done of this.takePassWaiters(wakeOn) ?? []) done();
      await this.closing(loop, nodes);
    }
  }

  /** A loop's last step: its connections closed, which reportStopping names while it lasts (a node that does not answer). */
  private closing(loop: string, nodes: NodeSet): Promise<void> {
    this.doing(loop, 'closing its connections');
    return nodes.closeAll();
  }
}
