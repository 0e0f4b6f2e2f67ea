import { getNode } from '../../config/config.ts';
import { ConfigError } from '../../core/errors.ts';
import { Daemon } from '../../runtime/daemon/daemon.ts';
import { serveDaemon } from '../../runtime/daemon/daemon-http.ts';
import { programScope } from '../../runtime/sync.ts';
import { loadConfig } from '../config-file.ts';
import { printLine } from '../output.ts';
import type { Command, GlobalArgs } from './command.ts';

export const runCommand: Command<GlobalArgs & { port?: number; host: string; node?: string }> = {
  command: 'run',
  describe: 'the daemon: every program at its interval; /metrics, /healthz and a status page over HTTP',
  builder: (y) =>
    y
      .option('port', { type: 'number', describe: 'HTTP port (default: http.port of the config, 9464; 0 = any free port)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'HTTP address to listen on' })
      .option('node', { type: 'string', describe: 'run only what touches this node (imports on it, transports from it, the NATS halves at it): one daemon per site' }),
  async run(args) {
    const config = loadConfig(args.config);
    if (config.programs.length === 0) throw new ConfigError('no_programs', 'the config has no programs to run', { hint: 'add programs to the config' });
    if (args.node !== undefined) getNode(config, args.node);
    const count = config.programs.filter((p) => programScope(p, args.node)).length;
    if (count === 0) throw new ConfigError('no_programs', `no program runs at node ${args.node}`, { hint: 'run the daemon at a node that a program reads from, delivers to or imports on' });
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const daemon = new Daemon(config, { signal: controller.signal, node: args.node, log: (line) => printLine(`${new Date().toISOString()} ${line}`) });
    const port = args.port ?? config.http.port;
    const server = await serveDaemon(daemon, port, args.host).catch((error) => {
      throw new ConfigError('http_port', `cannot listen on ${args.host}:${port}: ${error.message}`, { hint: 'choose another port with --port or http.port' });
    });
    const address = server.address();
    console.log(`dsync run: ${count} program(s)${args.node === undefined ? '' : ` at node ${args.node}`}; http://${args.host}:${typeof address === 'object' && address ? address.port : port}/ (metrics at /metrics, health at /healthz)`);
    try {
      await daemon.run();
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await new Promise((resolve) => server.close(resolve));
    }
    console.log('dsync run: stopped');
    return 0;
  },
};
