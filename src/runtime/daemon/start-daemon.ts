/**
 * The daemon as a library call: start every program of a config in the background of
 * the caller's process, with or without the HTTP endpoints, and stop it gracefully.
 * `dsync run` is this plus signal handling and printing.
 */
import type { Server } from 'node:http';
import type { Config } from '../../config/config.ts';
import { ConfigError } from '../../core/errors.ts';
import { Daemon, type DaemonOptions } from './daemon.ts';
import { serveDaemon } from './daemon-http.ts';

export interface StartDaemonOptions extends DaemonOptions {
  /** HTTP port for /metrics, /healthz and the status page: default the config's `http.port` (9464); 0 picks a free port; null serves no HTTP. */
  port?: number | null;
  /** HTTP address (default: the config's `http.host`, 127.0.0.1). */
  host?: string;
}

export interface RunningDaemon {
  daemon: Daemon;
  /** The HTTP address actually listened on, or null without HTTP. */
  url: string | null;
  /** Resolves when every program loop has ended, connections and HTTP server are closed; rejects if a loop crashed. */
  done: Promise<void>;
  /** Asks every loop to stop after its current pass and waits for `done`. */
  stop(): Promise<void>;
}

/**
 * Starts the daemon: every program in its own loop at its interval (again at once
 * while there is work), an import woken when this daemon's transport fills its inbox.
 * Returns once the HTTP server listens (a busy port is a ConfigError `http_port`).
 * Stop it with `stop()` or the `signal` option.
 */
export async function startDaemon(config: Config, options: StartDaemonOptions = {}): Promise<RunningDaemon> {
  if (config.programs.length === 0)
    throw new ConfigError('no_programs', 'the config has no programs to run', { hint: 'add programs to the config' });
  const daemon = new Daemon(config, options);
  const port = options.port === undefined ? config.http.port : options.port;
  const host = options.host ?? config.http.host;
  let server: Server | null = null;
  if (port !== null) {
    server = await serveDaemon(daemon, port, host).catch((error) => {
      throw new ConfigError(
        'http_port',
        `cannot listen on ${host}:${port}: ${error.message}`,
        { hint: 'choose another port with --port or http.port' },
        { cause: error },
      );
    });
  }
  const address = server?.address();
  const url = server
    ? `http://${host.includes(':') ? `[${host}]` : host}:${typeof address === 'object' && address ? address.port : port}/`
    : null;
  // Once the loops have ended, a request still being answered (a status page waiting for a node that does not answer) is cut.
  const done = daemon.run().finally(() => {
    if (!server) return undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    return closed;
  });
  return {
    daemon,
    url,
    done,
    async stop() {
      daemon.stop();
      await done;
    },
  };
}
