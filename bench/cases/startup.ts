/**
 * Startup: what a person waits for before the CLI answers, and what a drain process
 * holds before it moves a row. Each figure is the median of 7 runs of the compiled
 * package (dist/, as installed; `npm run build` first), beside the same-run figure of a
 * bare `node` and the target:
 * - `dsync --version`: ≤ 0.3 s;
 * - `dsync status` against a config of two SQLite nodes with their sync objects: ≤ 0.5 s;
 * - RSS of a process that loaded the library and opened two SQLite nodes: ≤ 80 MB.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../paths.ts';
import { fmt, progress, type ResultRow } from '../report.ts';

const RUNS = 7;
const DSYNC = join(ROOT, 'bin', 'dsync.js');
const LIBRARY = pathToFileURL(join(ROOT, 'dist', 'index.js')).href;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Wall time of one process run, in ms. */
function timed(args: string[], cwd: string): number {
  const started = performance.now();
  execFileSync(process.execPath, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
  return performance.now() - started;
}

const CONFIG = {
  nodes: {
    app1: { dialect: 'sqlite', url: 'app1.db', serverId: 'server1' },
    app2: { dialect: 'sqlite', url: 'app2.db', serverId: 'server2' },
  },
  tables: ['sales_order'],
  programs: [
    { id: 1000, type: 'transport', from: 'app1', to: 'app2' },
    { id: 1001, type: 'import', node: 'app2' },
  ],
};

/** The measuring child: loads the package, opens both nodes, prints its RSS before any row moves. */
const DRAIN_START = `
const { NodeSet, loadConfigFile } = await import(${JSON.stringify(LIBRARY)});
const config = loadConfigFile('dsync.config.json');
const nodes = new NodeSet(config);
await nodes.get('app1');
await nodes.get('app2');
const rss = process.memoryUsage().rss;
await nodes.closeAll();
console.log(rss);
`;

/** Two SQLite nodes with sales_order and their sync objects applied, through the library itself. */
async function prepare(dir: string): Promise<void> {
  writeFileSync(join(dir, 'dsync.config.json'), JSON.stringify(CONFIG));
  const { apply, loadConfigFile, NodeSet, writeGenerated } = await import(LIBRARY);
  const config = loadConfigFile(join(dir, 'dsync.config.json'));
  const nodes = new NodeSet(config);
  try {
    for (const name of Object.keys(CONFIG.nodes)) {
      await (await nodes.get(name)).client.exec(
        'CREATE TABLE sales_order (order_id varchar(20) PRIMARY KEY, description varchar(200), quantity integer)',
      );
      await writeGenerated(config, nodes, name);
      await apply(config, nodes, name);
    }
  } finally {
    await nodes.closeAll();
  }
}

function row(subject: string, ms: number[], bare: number[], target: number, unit: 's' | 'MB'): ResultRow {
  const value = median(ms);
  const base = median(bare);
  const show = (v: number) => (unit === 's' ? `${fmt(v / 1000, 2)} s` : `${fmt(v / 2 ** 20, 0)} MB`);
  const targetValue = unit === 's' ? target * 1000 : target * 2 ** 20;
  return {
    case: '7 startup',
    subject,
    measured: `${show(value)} (median of ${ms.length}; ${fmt(value / targetValue, 2)} of the target)`,
    baseline: `bare node ${show(base)}`,
    ratio: value / base,
    target: `≤ ${target} ${unit}`,
    verdict: value <= targetValue ? 'PASS' : 'MISS',
    note: `load average ${fmt(loadavg()[0], 1)} at the end: on a busy machine compare the ratio to bare node`,
    data: { runs: ms, bare, unit: unit === 's' ? 'ms' : 'bytes' },
  };
}

export async function startupCase(): Promise<ResultRow[]> {
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const dir = mkdtempSync(join(tmpdir(), 'dsync-bench-startup-'));
  try {
    await prepare(dir);
    progress(`startup: ${RUNS} runs each of bare node, dsync --version, dsync status, and a drain process's start`);
    const bareMs: number[] = [];
    const versionMs: number[] = [];
    const statusMs: number[] = [];
    const bareRss: number[] = [];
    const drainRss: number[] = [];
    // Interleaved, so that a slow moment of the shared machine lands on every figure alike.
    for (let i = 0; i < RUNS; i++) {
      bareMs.push(timed(['-e', '0'], dir));
      versionMs.push(timed([DSYNC, '--version'], dir));
      statusMs.push(timed([DSYNC, 'status'], dir));
      bareRss.push(Number(execFileSync(process.execPath, ['-e', 'console.log(process.memoryUsage().rss)'], { encoding: 'utf8' })));
      drainRss.push(Number(execFileSync(process.execPath, ['--input-type=module', '-e', DRAIN_START], { cwd: dir, encoding: 'utf8' })));
    }
    return [
      row('dsync --version', versionMs, bareMs, 0.3, 's'),
      row('dsync status, two SQLite nodes', statusMs, bareMs, 0.5, 's'),
      row('drain process RSS: library loaded, two SQLite nodes open', drainRss, bareRss, 80, 'MB'),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
