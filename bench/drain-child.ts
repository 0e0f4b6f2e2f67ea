/**
 * One drain in its own process, so that its peak RSS is the drain's alone: passes of a
 * transport program (outbox → inbox), then passes of the import program (inbox →
 * table), through the library's transportOnce/importOnce; or both loops at once on
 * their own connections, as `dsync run` runs them (`concurrent`). Reports events on
 * stdout as JSON lines: ready, transported, done. Run by drain-runner.ts, never by hand.
 */
import { readFileSync } from 'node:fs';
import type { Config, ImportProgram, TransportProgram } from '../src/config/config.ts';
import { getDialect } from '../src/dialects/registry.ts';
import { boundHeap, flagName, givenFlags } from '../src/runtime/heap.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ImportResult, importOnce } from '../src/runtime/import/import.ts';
import type { NodeHandle } from '../src/runtime/nodes.ts';
import { workDone } from '../src/runtime/sync.ts';
import { type DirectTransportResult, directTransportOnce } from '../src/runtime/transport/direct-apply.ts';
import { transportOnce } from '../src/runtime/transport/transport.ts';
import { StatementTrace, type TracedStatements, traceClient } from './traced-client.ts';

export interface DrainJob {
  config: Config;
  transportProgram: number;
  importProgram: number;
  /** Changes in the source's outbox: the drain ends when all of them are applied. */
  total: number;
  /** Count and time statements by shape (slightly slower). */
  trace: boolean;
  /**
   * Run the transport and the import at the same time, each on its own connections, as
   * `dsync run` does; otherwise one after the other (the import starts on a full inbox).
   */
  concurrent: boolean;
}

// The heap settings of `dsync run`/`sync`/`transport`/`import` (src/runtime/heap.ts), so that
// the peak RSS measured here is what those commands would reach; DSYNC_V8_DEFAULTS=1 compares. Reported with
// the heap flags given to this process (DSYNC_BENCH_DRAIN_NODE_OPTIONS, NODE_OPTIONS), which win over dsync's.
const HEAP_FLAGS = ['heap-growing-percent', 'max-semi-space-size', 'min-semi-space-size', 'max-old-space-size', 'semi-space-growth-factor'];
const heapFlags = [...boundHeap(), ...givenFlags().filter((arg) => HEAP_FLAGS.includes(flagName(arg)))];
const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

const job = JSON.parse(readFileSync(process.argv[2], 'utf8')) as DrainJob;
const { config } = job;
const trace = new StatementTrace();
/** What the trace found: statements by shape, most time first, and the SQLite ones inside which the peak RSS rose. */
const traced = (): TracedStatements => ({
  total: trace.statements,
  top: trace.top(),
  peakRises: trace.peakRises(),
  peakRiseKb: trace.peakRiseKb,
});

// Stopped by the runner's budget: report the statements so far, then exit normally, so
// that --cpu-prof still writes its profile.
process.on('SIGTERM', () => {
  if (job.trace) emit({ event: 'stopped', statements: traced() });
  process.exit(143);
});
const handles: NodeHandle[] = [];

async function open(name: string): Promise<NodeHandle> {
  const node = config.nodes[name];
  const dialect = await getDialect(node.dialect);
  const client = await dialect.connect(node.url, node.name);
  const handle = { node, dialect, client: job.trace ? traceClient(client, trace) : client };
  handles.push(handle);
  return handle;
}

const transport = config.programs.find((p) => p.id === job.transportProgram) as TransportProgram;
const importer = config.programs.find((p) => p.id === job.importProgram) as ImportProgram;
/** Passes of one program until `enough` says its work is done; a pass that moved nothing waits 5 ms. */
async function passesUntil(pass: () => Promise<number>, enough: () => boolean): Promise<number> {
  let passes = 0;
  while (!enough()) {
    const moved = await pass();
    passes++;
    if (moved === 0) await sleep(5);
  }
  return passes;
}

// The process's memory at its highest sampled RSS: V8's heap (used, reserved) against the rest (SQLite's, the
// drivers' buffers, malloc's), to tell which part sets the drain's peak.
let highest = process.memoryUsage();
const sampler = setInterval(() => {
  const now = process.memoryUsage();
  if (now.rss > highest.rss) highest = now;
}, 100);
try {
  const source = await open(transport.from);
  const target = await open(transport.to);
  // Concurrent: the import has its own connection, as in the daemon.
  const importTarget = job.concurrent ? await open(transport.to) : target;
  emit({ event: 'ready', heapFlags });
  const started = performance.now();
  let transported = 0;
  let moved = 0;
  // Into a directApply node the transport applies the changes itself; the import takes only what it wrote to the inbox.
  const direct = config.nodes[transport.to]?.directApply === true;
  let inboxed = 0;
  // Passes repeat until everything has moved: a reader's safe horizon may hold back rows
  // for a pass (a fence not yet passed), as it would under `dsync sync` or the daemon.
  const transportLoop = async () => {
    const passes = await passesUntil(
      async () => {
        const result = direct
          ? await directTransportOnce(config, transport, source, target)
          : await transportOnce(transport, source, target);
        if (direct) inboxed += (result as DirectTransportResult).inboxed;
        moved += workDone(result);
        return workDone(result);
      },
      () => moved >= job.total,
    );
    transported = performance.now();
    emit({ event: 'transported', ms: transported - started, moved, passes, maxRssKb: process.resourceUsage().maxRSS });
  };
  // The sum of every pass's counts (applied, conflicts, parked, …) and the last pointer.
  const imported: Record<string, number> = {};
  let consumed = 0;
  const importLoop = () =>
    passesUntil(
      async () => {
        const result: ImportResult = await importOnce(config, importer, importTarget);
        for (const [k, v] of Object.entries(result))
          if (typeof v === 'number') imported[k] = k === 'pointer' || k === 'horizon' || k === 'program' ? v : (imported[k] ?? 0) + v;
        consumed += workDone(result);
        return workDone(result);
      },
      () => (direct ? transported > 0 && consumed >= inboxed : consumed >= job.total),
    );
  let importPasses: number;
  if (job.concurrent) [, importPasses] = await Promise.all([transportLoop(), importLoop()]);
  else {
    await transportLoop();
    importPasses = await importLoop();
  }
  const finished = performance.now();
  emit({
    event: 'done',
    transportMs: transported - started,
    importMs: finished - transported,
    moved,
    imported,
    importPasses,
    maxRssKb: process.resourceUsage().maxRSS,
    atHighestRss: { rss: highest.rss, heapUsed: highest.heapUsed, heapTotal: highest.heapTotal, external: highest.external },
    statements: job.trace ? traced() : undefined,
  });
} finally {
  clearInterval(sampler);
  for (const h of handles) await h.client.close().catch(() => undefined);
}
