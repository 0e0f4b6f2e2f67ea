import { startDaemon } from '../../runtime/daemon/start-daemon.ts';
import { loadConfig } from '../config-file.ts';
import { printLine } from '../output.ts';
import type { Command, GlobalArgs } from './command.ts';

export const runCommand: Command<GlobalArgs & { port?: number; host: string }> = {
  command: 'run',
  describe: 'the daemon: every program at its interval; /metrics, /healthz and a status page over HTTP',
  builder: (y) =>
    y
      .option('port', { type: 'number', describe: 'HTTP port (default: http.port of the config, 9464; 0 = any free port)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'HTTP address to listen on' }),
  async run(args) {
    const config = loadConfig(args.config);
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const running = await startDaemon(config, {
        port: args.port ?? config.http.port,
        host: args.host,
        signal: controller.signal,
        log: (line) => printLine(`${new Date().toISOString()} ${line}`),
      });
      console.log(`dsync run: ${config.programs.length} program(s); ${running.url} (metrics at /metrics, health at /healthz)`);
      await running.done;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    console.log('dsync run: stopped');
    return 0;
  },
};
