/**
 * The results: one row per measured figure, with its same-run baseline and absolute
 * numbers beside the ratio, the target and PASS/MISS. Printed as a table and
 * written to bench/results/<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Machine, machineLines } from './machine.ts';
import type { BenchOptions } from './options.ts';
import { RESULTS_DIR } from './paths.ts';

export type Verdict = 'PASS' | 'MISS' | 'INFO' | 'SKIP';

export interface ResultRow {
  case: string;
  subject: string;
  /** The measured figure, absolute (e.g. "12,345 changes/s (220,000 in 17.8 s)"). */
  measured: string;
  /** The same-run baseline, absolute; empty when the target is absolute. */
  baseline: string;
  /** measured ÷ baseline when there is a baseline. */
  ratio: number | null;
  /** The target for this row, as text. */
  target: string;
  verdict: Verdict;
  note?: string;
  /** Raw numbers for the JSON file. */
  data?: Record<string, unknown>;
}

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const perSecond = (count: number, ms: number) => (ms > 0 ? (count * 1000) / ms : 0);
export const seconds = (ms: number) => `${fmt(ms / 1000, 1)} s`;

/** PASS when every check holds, else MISS. */
export const verdict = (...checks: boolean[]): Verdict => (checks.every(Boolean) ? 'PASS' : 'MISS');

function pad(cells: string[][]): string[] {
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join(' | ')
      .trimEnd(),
  );
}

export function tableLines(rows: ResultRow[]): string[] {
  const header = ['case', 'subject', 'measured', 'baseline (same run)', 'ratio', 'target', 'result'];
  const body = rows.map((r) => [
    r.case,
    r.subject,
    r.measured,
    r.baseline || '-',
    r.ratio === null ? '-' : fmt(r.ratio, 2),
    r.target,
    r.verdict,
  ]);
  const lines = pad([header, ...body]);
  lines.splice(1, 0, lines[0].replace(/[^|]/g, '-'));
  const notes = rows.filter((r) => r.note).map((r) => `  ${r.case} / ${r.subject}: ${r.note}`);
  return notes.length ? [...lines, '', 'notes:', ...notes] : lines;
}

/** The table as Markdown, for docs/performance.md. */
export function markdownLines(rows: ResultRow[]): string[] {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| case | subject | measured | baseline (same run) | ratio | target | result |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${[r.case, r.subject, r.measured, r.baseline || '-', r.ratio === null ? '-' : fmt(r.ratio, 2), r.target, r.verdict].map(esc).join(' | ')} |`,
    ),
  ];
}

export interface RunReport {
  startedAt: string;
  finishedAt: string;
  seconds: number;
  options: Omit<BenchOptions, 'cases'> & { cases: string[] };
  machine: Machine;
  rows: ResultRow[];
  profiles?: unknown[];
}

export function printReport(report: RunReport): void {
  const lines = [
    '',
    `dsync bench, ${report.startedAt} (scale ${report.options.scale}, ${fmt(report.seconds / 60, 1)} min)`,
    ...machineLines(report.machine),
    '',
    ...tableLines(report.rows),
    '',
    'markdown:',
    ...markdownLines(report.rows),
  ];
  console.log(lines.join('\n'));
}

export function writeReport(report: RunReport): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${report.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}

/** Progress goes to stderr, so that stdout holds the results only. */
export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
