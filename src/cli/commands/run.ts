import { getNode } from '../../config/config.ts';
import { ConfigError } from '../../core/errors.ts';
import { createLogger, type LogFormat } from '../../core/log.ts';
import { boundHeap } from '../../runtime/heap.ts';
import { startDaemon } from '../../runtime/daemon/start-daemon.ts';
import { programScope } from '../../runtime/sync.ts';
import { loadConfig } from '../config-file.ts';
import type { Command, GlobalArgs } from './command.ts';

export const runCommand: Command<GlobalArgs & { port?: number; host?: string; node?: string; logFormat: LogFormat; logLevel: string }> = {
  command: 'run',
  describe: 'the daemon: every program at its interval; /metrics, /healthz and a status page over HTTP',
  builder: (y) =>
    y
      .option('port', { type: 'number', describe: 'HTTP port (default: http.port of the config, 9464; 0 = any free port)' })
      .option('host', { type: 'string', describe: 'HTTP address to listen on (default: http.host of the config, 127.0.0.1)' })
      .option('node', {
        type: 'string',
        describe: 'run only what touches this node (imports on it, transports from it, the NATS halves at it): one daemon per site',
      })
      .option('log-format', {
        choices: ['auto', 'json', 'pretty'] as const,
        default: 'auto' as LogFormat,
        describe: 'log lines: JSON, or readable (auto: readable on a terminal)',
      })
      .option('log-level', {
        type: 'string',
        default: 'info',
        choices: ['debug', 'info', 'warn', 'error'],
        describe: 'least severe level logged',
      }),
  async run(args) {
    boundHeap();
    const config = loadConfig(args.config);
    if (args.node !== undefined) getNode(config, args.node);
    const count = config.programs.filter((p) => programScope(p, args.node)).length;
    if (args.node !== undefined && count === 0) {
      throw new ConfigError('no_programs', `no program runs at node ${args.node}`, {
        hint: 'run the daemon at a node that a program reads from, delivers to or imports on',
      });
    }
    const logger = createLogger({ format: args.logFormat, level: args.logLevel });
    const controller = new AbortController();
    // The first signal stops gracefully; with its handlers gone, a second one ends the process at once.
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      logger.info({ event: 'stopping', signal }, `dsync run: ${signal}: finishing the passes in hand (a second signal ends at once)`);
      controller.abort();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const running = await startDaemon(config, {
        port: args.port ?? config.http.port,
        host: args.host,
        node: args.node,
        signal: controller.signal,
        logger,
      });
      const where = args.node === undefined ? '' : ` at node ${args.node}`;
      logger.info(
        { event: 'started', programs: count, node: args.node, url: running.url },
        `dsync run: ${count} program(s)${where}; ${running.url} (metrics at /metrics, health at /healthz)`,
      );
      await running.done;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    logger.info({ event: 'stopped' }, 'dsync run: stopped');
    return 0;
  },
};
