/**
 * Bounded forms of unbounded text, for columns that are indexed or sized: a readable
 * prefix and a hash of the whole, so equal inputs map to equal outputs (a resend still
 * dedupes, a row's parked changes still find each other) and different ones stay apart.
 */
import { createHash } from 'node:crypto';

/** `text` when it fits in `max` characters; else a prefix, `~`, and the sha256 of the whole (hex, as much as fits). */
export function boundedText(text: string, max: number): string {
  if (text.length <= max) return text;
  const hash = createHash('sha256').update(text, 'utf8').digest('hex');
  const hashLength = Math.min(64, Math.max(16, max - 16));
  return `${text.slice(0, max - hashLength - 1)}~${hash.slice(0, hashLength)}`;
}

/** `text` cut to `max` characters with a visible marker saying how long it was. */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  const marker = ` … [truncated: ${text.length} characters]`;
  return text.slice(0, max - marker.length) + marker;
}

/** Server ids are part of the inbox's dedupe key and the version store: at most 64 characters. */
export const SERVER_ID_MAX = 64;
export const boundedServerId = (id: string): string => boundedText(id, SERVER_ID_MAX);
