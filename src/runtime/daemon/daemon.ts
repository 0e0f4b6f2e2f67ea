/**
 * `dsync run`: every program in its own loop, each with its own connections (a
 * transaction never shares a connection with another program). A loop runs its
 * program, runs it again at once while there is work, and otherwise sleeps its
 * interval; an import is woken as soon as a transport of this daemon filled its inbox.
 * SIGTERM/SIGINT (or the abort signal) stop every loop after its current pass.
 */
import { EventEmitter } from 'node:events';
import type { Row } from '../../core/dialect.ts';
import { type Config, type ProgramConfig, programHome, type TransportProgram } from '../../config/config.ts';
import { describeError } from '../../core/errors.ts';
import { redactSecrets } from '../../core/redact.ts';
import { type ImportResult, summary } from '../import/import.ts';
import { NodeSet } from '../nodes.ts';
import { purgeNode } from '../purge.ts';
import { programScope, runProgramOnce, workDone } from '../sync.ts';
import type { Halves } from '../transport/nats-transport.ts';
import type { TransportResult } from '../transport/transport.ts';

/** How often a node that cannot notify is asked for its change marker. */
const MARKER_POLL_SECONDS = 0.1;

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
  lastErrorAt: number | null;
}

export interface DaemonOptions {
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Called after every pass (tests and the bench watch progress through it). */
  onPass?: (metrics: ProgramMetrics, result: TransportResult | ImportResult | null) => void;
  /** Run only what touches this node (programScope): one daemon per site. */
  node?: string;
}

export class Daemon {
  readonly metrics = new Map<number, ProgramMetrics>();
  readonly startedAt = Date.now();
  private readonly wakes = new EventEmitter();
  /** Wake-ups that came while their loop was busy: its next sleep returns at once instead of losing them. */
  private readonly pendingWakes = new Set<string>();
  private stopping = false;
  private readonly sleepers = new Set<() => void>();
  /** One pass at a time per node whose brand cannot take concurrent writers (SQLite): see withWriters. */
  private readonly nodeLocks = new Map<string, Promise<void>>();
  /** The programs this daemon runs, and which halves of a NATS transport. */
  private readonly scopes = new Map<number, Halves>();

  constructor(
    readonly config: Config,
    private readonly options: DaemonOptions = {},
  ) {
    this.wakes.setMaxListeners(0);
    for (const program of config.programs) {
      const halves = programScope(program, options.node);
      if (!halves) continue;
      this.scopes.set(program.id, halves);
      this.metrics.set(program.id, {
        program, runs: 0, errors: 0, moved: 0, applied: 0, parked: 0, conflicts: 0, pointer: null, lastRunAt: null, lastError: null, lastErrorAt: null,
      });
    }
  }

  /** Runs until stopped; resolves when every loop has ended and every connection is closed. */
  async run(): Promise<void> {
    const onAbort = () => this.stop();
    this.options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.all([...this.programs().map((program) => this.loop(program)), this.purgeLoop(), ...this.watchedNodes().map((n) => this.watch(n))]);
    } finally {
      this.options.signal?.removeEventListener('abort', onAbort);
    }
  }

  stop(): void {
    this.stopping = true;
    for (const wake of this.sleepers) wake();
  }

  /** Healthy while no program's latest pass failed. */
  healthy(): boolean {
    return [...this.metrics.values()].every((m) => m.lastErrorAt === null || (m.lastRunAt !== null && m.lastRunAt > m.lastErrorAt));
  }

  private wake(key: string): void {
    this.pendingWakes.add(key);
    this.wakes.emit(key);
  }

  private sleep(seconds: number, wakeOn: string | null): Promise<void> {
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
  private async withWriters<T>(nodes: NodeSet, names: string[], fn: () => Promise<T>): Promise<T> {
    const exclusive: string[] = [];
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
        await previous;
        releases.push(() => {
          release();
          if (this.nodeLocks.get(name) === chained) this.nodeLocks.delete(name);
        });
      }
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
  private async watch(name: string): Promise<void> {
    const log = this.options.log ?? (() => undefined);
    const node = this.config.nodes[name];
    const nodes = new NodeSet(this.config);
    let listener: { close(): Promise<void> } | null = null;
    try {
      const { dialect } = await nodes.get(name);
      if (dialect.listenForChanges) {
        listener = await dialect.listenForChanges(node.url, name, (table) => this.wake(`${table}:${name}`));
        while (!this.stopping) await this.sleep(3600, null);
        return;
      }
      let last: Record<string, number | null> = {};
      while (!this.stopping) {
        const now: Record<string, number | null> = {};
        await this.withWriters(nodes, [name], async () => {
          for (const table of ['outbox', 'inbox'] as const) {
            const { rows } = await (await nodes.get(name)).client.query<Row>(`SELECT max(id) AS id FROM ds_change_${table}`);
            now[table] = rows[0].id === null ? null : Number(rows[0].id);
            if (table in last && now[table] !== last[table]) this.wake(`${table}:${name}`);
          }
        });
        last = now;
        await this.sleep(MARKER_POLL_SECONDS, null);
      }
    } catch (error) {
      // Without a watcher the programs still run at their interval.
      log(`node ${name}: change watch stopped (${describeError(error)}); programs run at their interval`);
    } finally {
      await listener?.close().catch(() => undefined);
      await nodes.closeAll();
    }
  }

  /** Retention: consumed outbox and inbox rows are purged every `retention.purgeIntervalSeconds`. */
  private async purgeLoop(): Promise<void> {
    const log = this.options.log ?? (() => undefined);
    const nodes = new NodeSet(this.config);
    try {
      while (!this.stopping) {
        await this.sleep(this.config.retention.purgeIntervalSeconds, null);
        if (this.stopping) break;
        for (const name of this.watchedNodes()) {
          try {
            const r = await this.withWriters(nodes, [name], () => purgeNode(this.config, nodes, name));
            if (r.outboxDeleted + r.inboxDeleted > 0) log(`purge ${name}: ${r.outboxDeleted} outbox and ${r.inboxDeleted} inbox row(s)`);
          } catch (error) {
            log(`purge ${name}: ${describeError(error)}`);
            await nodes.closeAll();
          }
        }
      }
    } finally {
      await nodes.closeAll();
    }
  }

  private async loop(program: ProgramConfig): Promise<void> {
    const log = (line: string) => this.options.log?.(redactSecrets(line));
    const metrics = this.metrics.get(program.id)!;
    const nodes = new NodeSet(this.config);
    const wakeOn = program.type === 'import' ? `inbox:${program.node}` : `outbox:${program.from}`;
    try {
      while (!this.stopping) {
        let busy = false;
        let heldBack = false;
        try {
          const result = await this.withWriters(nodes, this.nodesOf(program), () => runProgramOnce(this.config, nodes, program, this.scopes.get(program.id)));
          metrics.runs++;
          metrics.lastRunAt = Date.now();
          metrics.pointer = result.pointer;
          busy = workDone(result) > 0;
          heldBack = result.heldBack > 0;
          if ('moved' in result) {
            metrics.moved += result.moved;
            if (result.moved > 0) {
              this.wake(`inbox:${(program as TransportProgram).to}`);
              log(`program ${program.id}: moved ${result.moved}`);
            }
          } else {
            metrics.applied += result.applied;
            metrics.parked += result.parked + result.waiting;
            metrics.conflicts += result.conflicts;
            if (busy) log(`program ${program.id}: ${summary(result)}`);
          }
          this.options.onPass?.(metrics, result);
        } catch (error) {
          metrics.errors++;
          metrics.lastError = describeError(error);
          metrics.lastErrorAt = Date.now();
          log(`program ${program.id}: ${metrics.lastError} (next try in ${program.intervalSeconds}s)`);
          // A broken connection is reopened on the next pass.
          await nodes.closeAll();
          this.options.onPass?.(metrics, null);
        }
        // Rows held back by an open transaction become safe when it ends: look again soon (not faster than MySQL's 100 ms list refresh).
        if (!busy && !this.stopping) await this.sleep(heldBack ? Math.min(program.intervalSeconds, 0.2) : program.intervalSeconds, wakeOn);
      }
    } finally {
      await nodes.closeAll();
    }
  }
}
