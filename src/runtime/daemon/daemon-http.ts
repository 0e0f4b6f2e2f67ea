/**
 * The daemon's HTTP face: /healthz for load balancers and orchestrators, /metrics in
 * the Prometheus text format (daemon-metrics.ts), and a status page for people: one
 * self-contained HTML page (no scripts, no external CSS or fonts: the network may be
 * closed) with every program's backlog, lag, state and last error, the parked changes,
 * and a chart of the last hour's lag. Loopback by default (config `http.host`).
 */
import { createServer, type Server } from 'node:http';
import { describeError } from '../../core/errors.ts';
import { redactSecrets } from '../../core/redact.ts';
import { NodeSet } from '../nodes.ts';
import { readStatus } from '../status.ts';
import type { Daemon, ProgramMetrics } from './daemon.ts';
import { lagChartSvg } from './lag-history.ts';

/** Redacted before escaping: a secret holding & or a quote would no longer match once escaped. */
const escapeHtml = (s: string) => redactSecrets(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const iso = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19));

const formatLag = (s: number | null) =>
  s === null ? '-' : s < 120 ? `${s.toFixed(1)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`;

/** What this daemon knows of a program's passes: running fine, or failing since when and retrying when. */
function daemonState(m: ProgramMetrics, now: number): { text: string; failing: boolean } {
  if (m.program.paused) return { text: 'paused (config)', failing: false };
  if (m.failingSince === null) return { text: m.runs === 0 ? 'starting' : 'ok', failing: false };
  const retry = m.retryAt === null ? '' : `; next try in ${Math.max(0, (m.retryAt - now) / 1000).toFixed(1)} s`;
  return {
    text: `failing for ${((now - m.failingSince) / 1000).toFixed(0)} s (${m.failures} failed pass(es), ${m.lastErrorCode})${retry}`,
    failing: true,
  };
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f3f3f3}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.ok{color:#1a7f37}.bad{color:#b42318;font-weight:600}.msg{max-width:36em;word-break:break-word;color:#555}
.legend{margin:.3em 0 0 56px}.key{margin-right:1.2em;white-space:nowrap}.swatch{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.1em}`;

async function statusPage(daemon: Daemon): Promise<string> {
  const nodes = new NodeSet(daemon.config);
  try {
    const report = await readStatus(daemon.config, nodes);
    const now = Date.now();
    const rows = report.programs
      .map((p) => {
        const m = daemon.metrics.get(p.id)!;
        const state = daemonState(m, now);
        // The database's status message and the daemon's last error are often one text (a node that is down): shown once.
        const lastError = m.lastError === null || p.message?.includes(m.lastError) ? '' : `${iso(m.lastErrorAt)}: ${m.lastError}`;
        return (
          `<tr><td>${p.id}</td><td>${escapeHtml(p.name)}</td><td>${p.type}</td><td>${escapeHtml(p.node)}</td>` +
          `<td class="n">${p.pointer ?? '-'}</td><td class="n backlog">${p.backlog ?? '-'}</td><td class="n">${formatLag(p.lagSeconds)}</td>` +
          `<td class="${state.failing ? 'bad' : 'ok'}">${escapeHtml(state.text)}</td><td>${escapeHtml(p.status)}${p.lastRunAt ? ` at ${escapeHtml(p.lastRunAt.slice(0, 19))}` : ''}</td>` +
          `<td class="msg">${escapeHtml([p.message ?? '', lastError].filter(Boolean).join(' / '))}</td></tr>`
        );
      })
      .join('');
    const parked = report.parked
      .map(
        (n) =>
          `<li>${escapeHtml(n.node)}: ${n.error ? escapeHtml(n.error) : `${n.open} parked, ${n.waiting} waiting, ${n.conflicts} conflicts`}</li>`,
      )
      .join('');
    const chart = lagChartSvg(
      daemon.config.programs.map((p) => ({ label: `${p.id} ${p.name}`, samples: daemon.history.of(p.id) })),
      now,
    );
    const healthy = daemon.healthy(now);
    return (
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10"><title>dsync</title><style>${STYLE}</style></head><body>` +
      `<h1>dsync</h1><p class="${healthy ? 'ok' : 'bad'}">${healthy ? 'healthy' : 'a program is failing'}</p><p>up since ${iso(daemon.startedAt)} UTC; page at ${iso(now)} UTC</p>` +
      `<h2>programs</h2><table><tr><th>id</th><th>name</th><th>type</th><th>node</th><th>pointer</th><th>backlog</th><th>lag</th><th>daemon</th><th>last run (database)</th><th>message / last error</th></tr>${rows}</table>` +
      `<h2>lag, last hour</h2>${chart}<h2>parked changes</h2><ul>${parked}</ul></body></html>`
    );
  } finally {
    await nodes.closeAll();
  }
}

function healthText(daemon: Daemon): { ok: boolean; text: string } {
  const now = Date.now();
  const ok = daemon.healthy(now);
  const failing = [...daemon.metrics.values()]
    .filter((m) => m.failingSince !== null)
    .map(
      (m) =>
        `program ${m.program.id}: failing for ${((now - m.failingSince!) / 1000).toFixed(0)} s (limit ${m.program.failAfterSeconds} s): ${m.lastErrorCode}`,
    );
  return { ok, text: `${[ok ? 'ok' : 'failing', ...failing].join('\n')}\n` };
}

export function serveDaemon(daemon: Daemon, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const fail = (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`unavailable: ${describeError(error)}\n`);
    if (path === '/healthz') {
      const { ok, text } = healthText(daemon);
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(redactSecrets(text));
    } else if (path === '/metrics') {
      daemon.prom.text().then((text) => res.writeHead(200, { 'content-type': daemon.prom.contentType }).end(redactSecrets(text)), fail);
    } else if (path === '/') {
      statusPage(daemon).then((html) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html), fail);
    } else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
