/**
 * The daemon's observability without a database: retry backoff, the /healthz verdict
 * (failing past failAfterSeconds, not one failed pass), the metrics registry, the lag
 * chart, and the log's redaction and formats.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { failAfterDefault, parseConfig } from '../../src/config/config.ts';
import { compactLine, createLogger, lineLogger } from '../../src/core/log.ts';
import { rememberSecret } from '../../src/core/redact.ts';
import { retryDelaySeconds } from '../../src/runtime/daemon/backoff.ts';
import { Daemon } from '../../src/runtime/daemon/daemon.ts';
import { lagChartSvg, LagHistory } from '../../src/runtime/daemon/lag-history.ts';

const config = (extra: object = {}) =>
  parseConfig(
    {
      nodes: {
        a: { dialect: 'sqlite', url: '/tmp/never-a.db', serverId: 'a' },
        b: { dialect: 'sqlite', url: '/tmp/never-b.db', serverId: 'b' },
      },
      tables: ['t'],
      programs: [
        { id: 1000, type: 'transport', from: 'a', to: 'b', intervalSeconds: 2, ...extra },
        { id: 1001, type: 'import', node: 'b' },
      ],
    },
    '/tmp',
    null,
  );

describe('retry backoff', () => {
  it('doubles from 0.5 s, jittered within the upper half, capped at max(interval, 10 s)', () => {
    expect([1, 2, 3, 4].map((n) => retryDelaySeconds(5, n, () => 0.999999))).toEqual([0.5, 1, 2, 4].map((d) => expect.closeTo(d, 5)));
    expect(retryDelaySeconds(5, 2, () => 0)).toBe(0.5);
    expect(retryDelaySeconds(5, 50, () => 0.999999)).toBeCloseTo(10, 5);
    expect(retryDelaySeconds(60, 50, () => 0.999999)).toBeCloseTo(60, 3);
    expect(retryDelaySeconds(0.1, 1000, () => 0)).toBe(5);
  });
});

describe('health', () => {
  it('fails only when a program has been failing longer than its failAfterSeconds', () => {
    const c = config({ failAfterSeconds: 20 });
    expect(c.programs[1].failAfterSeconds).toBe(failAfterDefault(5));
    const daemon = new Daemon(c);
    const now = 1_000_000;
    expect(daemon.healthy(now)).toBe(true);
    daemon.metrics.get(1000)!.failingSince = now - 19_000;
    expect(daemon.healthy(now)).toBe(true);
    expect(daemon.failingSeconds(1000, now)).toBe(19);
    daemon.metrics.get(1000)!.failingSince = now - 21_000;
    expect(daemon.healthy(now)).toBe(false);
    daemon.metrics.get(1000)!.failingSince = null;
    daemon.metrics.get(1001)!.failingSince = now - 44_000;
    expect(daemon.healthy(now)).toBe(true);
    daemon.metrics.get(1001)!.failingSince = now - 46_000;
    expect(daemon.healthy(now)).toBe(false);
  });

  it('has a registry per daemon with series for every program from the start', async () => {
    const [one, two] = [new Daemon(config()), new Daemon(config())];
    one.prom.passDone(one.config.programs[0], 0.01, { pointer: 7, moved: 3 });
    const text = await one.prom.text();
    expect(text).toMatch(/^dsync_changes_moved_total\{program="1000",type="transport",node="a"\} 3$/m);
    expect(text).toMatch(/^dsync_changes_applied_total\{program="1001",type="import",node="b"\} 0$/m);
    expect(text).toMatch(/^dsync_program_pointer\{program="1000",type="transport",node="a"\} 7$/m);
    expect(text).toMatch(/^dsync_pass_duration_seconds_count\{program="1000",type="transport",node="a"\} 1$/m);
    expect(text).toMatch(/^dsync_up 1$/m);
    expect(await two.prom.text()).toMatch(/^dsync_changes_moved_total\{program="1000",type="transport",node="a"\} 0$/m);
  });
});

describe('lag chart', () => {
  it('keeps an hour of samples and draws one line per program, escaping labels', () => {
    const history = new LagHistory(60_000);
    for (let t = 0; t <= 120_000; t += 10_000) history.add(1, { at: t, backlog: t / 1000, lagSeconds: t / 10_000 });
    expect(history.of(1).map((s) => s.at)).toEqual([60_000, 70_000, 80_000, 90_000, 100_000, 110_000, 120_000]);
    const svg = lagChartSvg(
      [
        { label: 'import <b>', samples: history.of(1) },
        { label: 'none', samples: [] },
      ],
      120_000,
      60_000,
    );
    expect(svg).toContain('<polyline');
    expect(svg).toContain('import &#60;b&#62;');
    expect(svg).not.toContain('<b>');
    expect(svg).toMatch(/>20 s</);
    expect(lagChartSvg([{ label: 'x', samples: [] }])).toMatch(/no samples yet/);
  });
});

describe('log', () => {
  const capture = () => {
    let text = '';
    const destination = new Writable({
      write(chunk, _e, done) {
        text += String(chunk);
        done();
      },
    });
    return { destination, text: () => text };
  };

  it('writes JSON lines with redacted messages and fields', () => {
    rememberSecret('s3cr3t-pw');
    const out = capture();
    const log = createLogger({ destination: out.destination, format: 'json' });
    log.warn(
      { event: 'pass_failed', program: 1000, node: 'a', code: 'connect_failed', detail: 'postgres://u:hunter22@h/db' },
      'cannot connect: password s3cr3t-pw refused',
    );
    const entry = JSON.parse(out.text().trim());
    expect(entry).toMatchObject({
      level: 'warn',
      event: 'pass_failed',
      program: 1000,
      node: 'a',
      code: 'connect_failed',
      detail: 'postgres://u:***@h/db',
    });
    expect(entry.msg).toBe('cannot connect: password *** refused');
    expect(out.text()).not.toMatch(/hunter22|s3cr3t/);
  });

  it('renders a readable line when asked (pretty, or the compact fallback)', () => {
    const out = capture();
    createLogger({ destination: out.destination, format: 'pretty' }).info(
      { event: 'moved', program: 1000, moved: 3 },
      'program 1000: moved 3',
    );
    expect(out.text()).toMatch(/program 1000: moved 3/);
    expect(out.text()).not.toMatch(/^\{/);
    const lines: string[] = [];
    lineLogger((line) => lines.push(line)).warn({ event: 'pass_failed', code: 'x' }, 'at postgres://u:pw123@h/db');
    expect(lines).toEqual([
      expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}at postgres:\/\/u:\*\*\*@h\/db {2}event=pass_failed code=x$/),
    ]);
    expect(compactLine('{"level":"info","time":"2026-01-02T03:04:05.678Z","pid":1,"msg":"hi","event":"moved","moved":3}')).toBe(
      '03:04:05.678 INFO  hi  event=moved moved=3',
    );
  });
});
