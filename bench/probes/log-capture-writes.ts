/**
 * Case 2l (capture mode log) alone, without the bench's machine survey and results file:
 * the same as `npm run bench -- --cases log --scale N`, see bench/cases/capture-log.ts.
 *
 *   npx tsx bench/probes/log-capture-writes.ts [scale=0.1]
 */
import { captureLog } from '../cases/capture-log.ts';
import { tableLines } from '../report.ts';

console.log(tableLines(await captureLog(Number(process.argv[2] ?? 0.1))).join('\n'));
