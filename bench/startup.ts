/**
 * `npm run bench:startup` (or `npm run bench -- --cases startup`): the startup figures
 * alone, in a few seconds and without database servers. See bench/cases/startup.ts.
 */
import { startupCase } from './cases/startup.ts';
import { markdownLines, tableLines } from './report.ts';

const rows = await startupCase();
for (const line of tableLines(rows)) console.log(line);
console.log('');
for (const line of markdownLines(rows)) console.log(line);
process.exitCode = rows.every((r) => r.verdict === 'PASS') ? 0 : 1;
