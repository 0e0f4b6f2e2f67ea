/**
 * The one spelling of dsync's own timestamps: 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC, the
 * form every brand's timestamp column accepts as text (no ISO `T`, no `Z`: MySQL
 * rejects both in strict mode) and that the capture triggers write to update_datetime.
 */

/** Now, in UTC, with microseconds ('2026-11-30 06:40:01.123000'). */
export function utcNow(): string {
  return utcTimestamp(new Date());
}

/** A Date in UTC, with microseconds (JavaScript keeps milliseconds: the last three digits are 0). */
export function utcTimestamp(date: Date): string {
  return `${date.toISOString().replace('T', ' ').replace('Z', '')}000`;
}

/** A canonical timestamp ('…T…', with 'Z' when zoned, UTC) in that same spelling. */
export function sqlTimestampText(canonical: string): string {
  return canonical.replace('T', ' ').replace(/Z$/, '');
}
