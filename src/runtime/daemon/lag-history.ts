/**
 * The last hour of each program's backlog and lag, sampled by the daemon every
 * SAMPLE_SECONDS and kept in memory, and the status page's chart of it: an SVG built
 * here, on the server, because the page may load nothing from elsewhere (no scripts, no
 * CDN; the network may be closed).
 */

export const SAMPLE_SECONDS = 10;
export const HISTORY_MS = 3600_000;

export interface LagSample {
  at: number;
  backlog: number;
  lagSeconds: number;
}

export class LagHistory {
  private readonly samples = new Map<number, LagSample[]>();

  constructor(private readonly keepMs = HISTORY_MS) {}

  add(programId: number, sample: LagSample): void {
    const list = this.samples.get(programId) ?? [];
    list.push(sample);
    while (list.length > 0 && list[0].at < sample.at - this.keepMs) list.shift();
    this.samples.set(programId, list);
  }

  of(programId: number): LagSample[] {
    return this.samples.get(programId) ?? [];
  }

  latest(programId: number): LagSample | null {
    return this.of(programId).at(-1) ?? null;
  }
}

/** Colour-blind-safe (Okabe–Ito), enough for most configs; more programs reuse them. */
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** 1, 2, 5 × 10^n at or above `value`: axis maxima people read at a glance. */
function niceCeiling(value: number): number {
  if (value <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** Axis labels: no trailing zeros (0.25 s, 1 s, 1.5 s; 2 min; 1.5 h). */
const short = (n: number) => String(Number(n.toFixed(2)));
const formatSeconds = (s: number) => (s >= 3600 ? `${short(s / 3600)} h` : s >= 120 ? `${short(s / 60)} min` : `${short(s)} s`);

export interface ChartSeries {
  label: string;
  samples: LagSample[];
}

/** Lag (seconds) over the last hour, one line per series; labels must be plain text (escaped here). */
export function lagChartSvg(series: ChartSeries[], now = Date.now(), windowMs = HISTORY_MS): string {
  const width = 760;
  const height = 240;
  const left = 56;
  const right = 12;
  const top = 14;
  const bottom = 30;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const start = now - windowMs;
  const maxLag = niceCeiling(Math.max(0, ...series.flatMap((s) => s.samples.map((p) => p.lagSeconds))));
  const x = (at: number) => left + ((Math.max(at, start) - start) / windowMs) * plotW;
  const y = (lag: number) => top + plotH - (lag / maxLag) * plotH;
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const value = (maxLag / 4) * i;
    const py = y(value).toFixed(1);
    parts.push(`<line x1="${left}" y1="${py}" x2="${width - right}" y2="${py}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${esc(formatSeconds(value))}</text>`);
  }
  for (let minutes = 0; minutes <= windowMs / 60_000; minutes += 10) {
    const px = x(start + minutes * 60_000).toFixed(1);
    const label = minutes === windowMs / 60_000 ? 'now' : `−${windowMs / 60_000 - minutes} min`;
    parts.push(`<line x1="${px}" y1="${top}" x2="${px}" y2="${top + plotH}" stroke="#eee"/>`);
    parts.push(`<text x="${px}" y="${height - 10}" text-anchor="middle">${label}</text>`);
  }
  series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const points = s.samples.filter((p) => p.at >= start).map((p) => `${x(p.at).toFixed(1)},${y(p.lagSeconds).toFixed(1)}`);
    if (points.length === 1)
      parts.push(`<circle cx="${points[0].split(',')[0]}" cy="${points[0].split(',')[1]}" r="2.5" fill="${colour}"/>`);
    else if (points.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.join(' ')}"><title>${esc(s.label)}</title></polyline>`,
      );
  });
  const empty = series.every((s) => s.samples.length === 0)
    ? `<text x="${left + plotW / 2}" y="${top + plotH / 2}" text-anchor="middle" fill="#777">no samples yet (one every ${SAMPLE_SECONDS} s)</text>`
    : '';
  const legend = series
    .map((s, i) => `<span class="key"><span class="swatch" style="background:${PALETTE[i % PALETTE.length]}"></span>${esc(s.label)}</span>`)
    .join(' ');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="lag over the last hour" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11" fill="#333">` +
    `<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="#fff" stroke="#999"/>${parts.join('')}${empty}</svg>` +
    `<div class="legend">${legend}</div>`
  );
}
