/**
 * The daemon's HTTP face: /healthz for load balancers and orchestrators, /metrics in
 * the Prometheus text format, and a status page for people. Loopback by default.
 */
import { createServer, type Server } from 'node:http';
import { describeError } from '../../core/errors.ts';
import type { Daemon } from './daemon.ts';
import { NodeSet } from '../nodes.ts';
import { redactSecrets } from '../../core/redact.ts';
import { readStatus } from '../status.ts';

function metricsText(daemon: Daemon): string {
  const lines: string[] = [];
  const metric = (name: string, help: string, type: 'counter' | 'gauge', value: (m: ReturnType<Daemon['metrics']['get']> & object) => number | null) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const m of daemon.metrics.values()) {
      const v = value(m);
      if (v !== null) lines.push(`${name}{program="${m.program.id}",type="${m.program.type}"} ${v}`);
    }
  };
  metric('dsync_program_runs_total', 'Passes run.', 'counter', (m) => m.runs);
  metric('dsync_program_errors_total', 'Passes that failed.', 'counter', (m) => m.errors);
  metric('dsync_changes_moved_total', 'Changes written to an inbox by a transport program.', 'counter', (m) => (m.program.type === 'transport' ? m.moved : null));
  metric('dsync_changes_applied_total', 'Changes applied by an import program.', 'counter', (m) => (m.program.type === 'import' ? m.applied : null));
  metric('dsync_changes_parked_total', 'Changes parked by an import program.', 'counter', (m) => (m.program.type === 'import' ? m.parked : null));
  metric('dsync_conflicts_total', 'Conflicts met by an import program.', 'counter', (m) => (m.program.type === 'import' ? m.conflicts : null));
  metric('dsync_program_pointer', "The program's pointer.", 'gauge', (m) => m.pointer);
  metric('dsync_program_last_run_seconds', 'Unix time of the last successful pass.', 'gauge', (m) => (m.lastRunAt === null ? null : m.lastRunAt / 1000));
  lines.push('# HELP dsync_up 1 while every program is healthy.', '# TYPE dsync_up gauge', `dsync_up ${daemon.healthy() ? 1 : 0}`);
  return `${lines.join('\n')}\n`;
}

/** Redacted before escaping: a secret holding & or a quote would no longer match once escaped. */
const escapeHtml = (s: string) => redactSecrets(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function statusPage(daemon: Daemon): Promise<string> {
  const nodes = new NodeSet(daemon.config);
  try {
    const report = await readStatus(daemon.config, nodes);
    const rows = report.programs
      .map((p) => `<tr><td>${p.id}</td><td>${escapeHtml(p.name)}</td><td>${p.type}</td><td>${p.pointer ?? '-'}</td><td>${p.backlog ?? '-'}</td><td>${escapeHtml(p.status)}</td><td>${escapeHtml(p.lastRunAt ?? '')}</td><td>${escapeHtml(p.message ?? '')}</td></tr>`)
      .join('');
    const parked = report.parked.map((n) => `<li>${escapeHtml(n.node)}: ${n.error ? escapeHtml(n.error) : `${n.open} parked, ${n.waiting} waiting, ${n.conflicts} conflicts`}</li>`).join('');
    return `<!doctype html><meta charset="utf-8"><title>dsync</title><h1>dsync</h1><p>${daemon.healthy() ? 'healthy' : 'a program is failing'}; up since ${new Date(daemon.startedAt).toISOString()}</p><table border="1" cellpadding="4"><tr><th>id</th><th>name</th><th>type</th><th>pointer</th><th>backlog</th><th>status</th><th>last run</th><th>message</th></tr>${rows}</table><h2>parked changes</h2><ul>${parked}</ul>`;
  } finally {
    await nodes.closeAll();
  }
}

export function serveDaemon(daemon: Daemon, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      const ok = daemon.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'failing\n');
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metricsText(daemon));
    } else if (path === '/') {
      statusPage(daemon).then(
        (html) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html),
        (error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`status unavailable: ${describeError(error)}\n`),
      );
    } else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
