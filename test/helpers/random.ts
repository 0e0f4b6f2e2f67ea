/** A small deterministic generator (mulberry32): a seeded run can be replayed from the seed it prints. */
export function random(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Pieces of text that formats and drivers treat specially: COPY's escapes and end marker,
 * control characters, quotes, non-BMP characters, `\N`.
 */
export const ODD_TEXT = [
  '\t',
  '\n',
  '\r',
  '\\',
  '\\N',
  '\b',
  '\f',
  '\v',
  '\u0001',
  '\u007f',
  '"',
  "'",
  '~',
  'é',
  '中',
  '😀',
  '\u{10FFFF}',
  ' ',
  'N',
  '\\\\t',
  '\\.',
];

/** Up to `max` pieces, each an odd one (ODD_TEXT) or a lower-case letter. */
export function oddText(next: () => number, max: number): string {
  let s = '';
  const n = Math.floor(next() * max);
  for (let i = 0; i < n; i++)
    s += next() < 0.5 ? ODD_TEXT[Math.floor(next() * ODD_TEXT.length)] : String.fromCharCode(97 + Math.floor(next() * 26));
  return s;
}
