/** Names dsync derives from a table's name for its own objects (trigger names, file stems, note tables). */
import { createHash } from 'node:crypto';

/** Lowercase letters, digits and `_`; a hash suffix when the name had to change, so stems stay unique. */
export function safeName(name: string, maxLength = 40): string {
  const plain =
    name
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '') || 't';
  if (plain === name && plain.length <= maxLength) return plain;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 6);
  return `${plain.slice(0, maxLength - 7)}_${hash}`;
}

/**
 * The table where a table's key triggers note the keys of the rows they saw (capture mode keys,
 * docs/capture-modes.md#keys): one per table, so that a note is a key and an id, with no other index.
 */
export const keyNotesTable = (tableName: string): string => `ds_key_${safeName(tableName)}`;
