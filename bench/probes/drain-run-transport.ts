/** The transport loop of drain-run.ts's `split` mode, in a worker thread of its own (workerData: config, total). */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config, TransportProgram } from '../../src/config/config.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { workDone } from '../../src/runtime/sync.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';

const { config, total } = workerData as { config: Config; total: number };
const nodes = new NodeSet(config);
const transport = config.programs[0] as TransportProgram;
const src = await nodes.get(transport.from);
const tgt = await nodes.get(transport.to);
let moved = 0;
/** This thread's CPU seconds (/proc/thread-self/stat; process.cpuUsage is the whole process's). */
const threadCpu = () => {
  const f = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const c0 = threadCpu();
while (moved < total) {
  const w = workDone(await transportOnce(transport, src, tgt));
  moved += w;
  if (w === 0) await sleep(5);
}
const c1 = threadCpu();
await nodes.closeAll();
parentPort!.postMessage({ moved, cpu: c1 - c0 });
