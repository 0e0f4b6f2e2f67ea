/**
 * The daemon's structured log (pino): one JSON object per line for log collectors, or a
 * readable line per event when a person watches a terminal. Fields, where they apply:
 * `event` (what happened: pass, moved, applied, pass_failed, retry, …), `program`,
 * `node`, counts (`moved`, `applied`, `parked`, …), `code` (the DsyncError code of a
 * failure). Every string, message and field alike, goes through redactSecrets: a driver
 * message quoting a connection URL must not put its password in a log file.
 */
import { Writable } from 'node:stream';
import type * as Pino from 'pino';
import { lazyRequire } from './lazy-require.ts';
import { redactSecrets } from './redact.ts';

const lazyPino = lazyRequire<typeof Pino.pino>('pino');

export type Logger = Pino.Logger;
export type LogFormat = 'json' | 'pretty' | 'auto';

export interface LoggerOptions {
  /** `auto` (the default): pretty when the destination is a terminal, JSON otherwise. */
  format?: LogFormat;
  level?: string;
  /** Defaults to stdout. */
  destination?: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Every string in a log object, however deep, redacted (errors are logged as code and message, not objects). */
function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, depth + 1);
  return out;
}

const LEVEL_WIDTH = 5;

/** A one-line-per-event rendering for terminals, for when pino-pretty (a dev dependency) is not installed. */
export function compactLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { time, level, msg, pid: _pid, hostname: _hostname, ...fields } = entry;
  const clock = typeof time === 'string' ? time.slice(11, 23) : new Date(Number(time)).toISOString().slice(11, 23);
  const rest = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${clock} ${String(level).toUpperCase().padEnd(LEVEL_WIDTH)} ${msg ?? ''}${rest ? `  ${rest}` : ''}`;
}

function compactStream(destination: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const lines = String(chunk).split('\n').filter(Boolean);
      destination.write(`${lines.map(compactLine).join('\n')}\n`);
      done();
    },
  });
}

function prettyStream(destination: NodeJS.WritableStream): NodeJS.WritableStream {
  try {
    const pretty = lazyRequire<(options: object) => NodeJS.WritableStream>('pino-pretty')();
    return pretty({ destination, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true });
  } catch {
    return compactStream(destination);
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stdout;
  const format = options.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && Boolean(destination.isTTY));
  const pino = lazyPino();
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => redactDeep(object) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((a) => (typeof a === 'string' ? redactSecrets(a) : a)) as Parameters<typeof method>);
        },
      },
    },
    pretty ? prettyStream(destination) : (destination as Pino.DestinationStream),
  );
}

/** A logger that hands each entry as one readable line to `write` (library callers that want lines, not JSON). */
export function lineLogger(write: (line: string) => void): Logger {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) write(compactLine(line));
      done();
    },
  });
  return createLogger({ format: 'json', destination });
}

/** A logger that drops everything (library use of the daemon without a log). */
export function silentLogger(): Logger {
  return lazyPino()({ level: 'silent' });
}
