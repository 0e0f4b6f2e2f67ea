/**
 * How long a failing program waits before its next try (docs/operations.md "Faults"): 0.5 s
 * after the first failure, doubling with each failure in a row, capped at
 * max(intervalSeconds, MIN_CAP_SECONDS) so that a program never waits much longer than
 * its own interval, yet a fast program does not hammer a database that is down at 10
 * tries a second. Each delay is jittered to a random point of its upper half so that the
 * programs that lost one database do not come back at it in step.
 */

const FIRST_DELAY_SECONDS = 0.5;
const MIN_CAP_SECONDS = 10;

/** The delay after the `failures`-th failure in a row (1 = the first); `random` in [0, 1). */
export function retryDelaySeconds(intervalSeconds: number, failures: number, random: () => number = Math.random): number {
  const cap = Math.max(intervalSeconds, MIN_CAP_SECONDS);
  const delay = Math.min(cap, FIRST_DELAY_SECONDS * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return delay / 2 + (delay / 2) * random();
}
