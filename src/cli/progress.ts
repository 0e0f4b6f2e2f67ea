/**
 * Progress of long commands (load, verify), on stderr so that `--json` output stays
 * clean: a cli-progress bar (rows, rate, ETA) on a terminal, plain lines every few
 * seconds otherwise (logs, CI).
 */
import type { SingleBar } from 'cli-progress';
import { lazyRequire } from '../core/lazy-require.ts';

const lazyProgress = lazyRequire<typeof import('cli-progress')>('cli-progress');

export interface Progress {
  /** `rows` done of `total` (total 0: unknown). */
  update(label: string, rows: number, total: number): void;
  stop(): void;
}

const PLAIN_EVERY_MS = 5000;

export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    let bar: SingleBar | null = null;
    let current = '';
    return {
      update(label, rows, total) {
        if (!bar || label !== current) {
          bar?.stop();
          const { SingleBar: Bar, Presets } = lazyProgress();
          bar = new Bar(
            { stream, format: '{label} [{bar}] {value}/{total} rows | {rate} rows/s | ETA {eta_formatted}', hideCursor: true },
            Presets.shades_classic,
          );
          bar.start(Math.max(total, rows), rows, { label, rate: 0 });
          current = label;
          (bar as SingleBar & { startedAt?: number }).startedAt = Date.now();
        }
        const startedAt = (bar as SingleBar & { startedAt?: number }).startedAt ?? Date.now();
        if (total > bar.getTotal()) bar.setTotal(total);
        bar.update(rows, { label, rate: Math.round(rows / Math.max(0.001, (Date.now() - startedAt) / 1000)) });
      },
      stop() {
        bar?.stop();
        bar = null;
      },
    };
  }
  let last = 0;
  let started = Date.now();
  let current = '';
  return {
    update(label, rows, total) {
      const now = Date.now();
      if (label !== current) {
        current = label;
        started = now;
        last = now;
        return;
      }
      if (now - last < PLAIN_EVERY_MS) return;
      last = now;
      const rate = Math.round(rows / Math.max(0.001, (now - started) / 1000));
      const of = total > 0 ? ` of ${total} (${Math.floor((100 * rows) / total)}%)` : '';
      stream.write(`${label}: ${rows} rows${of}, ${rate} rows/s\n`);
    },
    stop() {
      current = '';
    },
  };
}
