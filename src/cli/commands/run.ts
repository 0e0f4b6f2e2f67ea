import { ConfigError } from '../../core/errors.ts';
import { createLogger, type LogFormat } from '../../core/log.ts';
import { Daemon } from '../../runtime/daemon/daemon.ts';
import { serveDaemon } from '../../runtime/daemon/daemon-http.ts';
import { loadConfig } from '../config-file.ts';
import type { Command, GlobalArgs } from './command.ts';

export const runCommand: Command<GlobalArgs & { port?: number; host?: string; logFormat: LogFormat; logLevel: string }> = {
  command: 'run',
  describe: 'the daemon: every program at its interval; /metrics, /healthz and a status page over HTTP',
  builder: (y) =>
    y
      .option('port', { type: 'number', describe: 'HTTP port (default: http.port of the config, 9464; 0 = any free port)' })
      .option('host', { type: 'string', describe: 'HTTP address to listen on (default: http.host of the config, 127.0.0.1)' })
      .option('log-format', { choices: ['auto', 'json', 'pretty'] as const, default: 'auto' as LogFormat, describe: 'log lines: JSON, or readable (auto: readable on a terminal)' })
      .option('log-level', { type: 'string', default: 'info', choices: ['debug', 'info', 'warn', 'error'], describe: 'least severe level logged' }),
  async run(args) {
    const config = loadConfig(args.config);
    if (config.programs.length === 0) throw new ConfigError('no_programs', 'the config has no programs to run', { hint: 'add programs to the config' });
    const logger = createLogger({ format: args.logFormat, level: args.logLevel });
    const controller = new AbortController();
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ event: 'stopping', signal }, `dsync run: ${signal}: finishing the passes in hand`);
      controller.abort();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const daemon = new Daemon(config, { signal: controller.signal, logger });
    const port = args.port ?? config.http.port;
    const host = args.host ?? config.http.host;
    const server = await serveDaemon(daemon, port, host).catch((error) => {
      throw new ConfigError('http_port', `cannot listen on ${host}:${port}: ${error.message}`, { hint: 'choose another port with --port or http.port' });
    });
    const address = server.address();
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${typeof address === 'object' && address ? address.port : port}/`;
    logger.info({ event: 'started', programs: config.programs.length, url }, `dsync run: ${config.programs.length} program(s); ${url} (metrics at /metrics, health at /healthz)`);
    try {
      await daemon.run();
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await new Promise((resolve) => server.close(resolve));
    }
    logger.info({ event: 'stopped' }, 'dsync run: stopped');
    return 0;
  },
};
