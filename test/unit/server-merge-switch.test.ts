/**
 * Whether the import lets the database merge the common case (runtime/import/server-merge.ts): the
 * brand's default (ServerMerge.byDefault) unless DSYNC_SERVER_MERGE says on or off; any other value
 * is refused with the variable's name and the fix, not read as either. Never on a node that forwards
 * or for a small batch.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DbClient, ServerMerge } from '../../src/core/dialect.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { SERVER_MERGE_AT_LEAST, serverMergeMay } from '../../src/runtime/import/server-merge.ts';

const dialectWith = (byDefault: boolean | null) =>
  ({
    serverMerge: byDefault === null ? undefined : ({ byDefault, supports: () => true, apply: async () => [] } satisfies ServerMerge),
  }) as unknown as DbClient['dialect'];
const scope = { forwards: false, tables: new Map() };
const before = process.env.DSYNC_SERVER_MERGE;

afterEach(() => {
  if (before === undefined) delete process.env.DSYNC_SERVER_MERGE;
  else process.env.DSYNC_SERVER_MERGE = before;
});

describe('serverMergeMay', () => {
  it("follows the brand's default when the variable is unset or empty", () => {
    for (const unset of [undefined, '']) {
      if (unset === undefined) delete process.env.DSYNC_SERVER_MERGE;
      else process.env.DSYNC_SERVER_MERGE = unset;
      expect(serverMergeMay(dialectWith(true), scope, SERVER_MERGE_AT_LEAST)).toBe(true);
      expect(serverMergeMay(dialectWith(false), scope, SERVER_MERGE_AT_LEAST)).toBe(false);
    }
  });

  it('on and off override the default both ways', () => {
    process.env.DSYNC_SERVER_MERGE = 'on';
    expect(serverMergeMay(dialectWith(false), scope, SERVER_MERGE_AT_LEAST)).toBe(true);
    process.env.DSYNC_SERVER_MERGE = 'off';
    expect(serverMergeMay(dialectWith(true), scope, SERVER_MERGE_AT_LEAST)).toBe(false);
  });

  it('never for a brand without it, a node that forwards, or a small batch', () => {
    process.env.DSYNC_SERVER_MERGE = 'on';
    expect(serverMergeMay(dialectWith(null), scope, SERVER_MERGE_AT_LEAST)).toBe(false);
    expect(serverMergeMay(dialectWith(true), { ...scope, forwards: true }, SERVER_MERGE_AT_LEAST)).toBe(false);
    expect(serverMergeMay(dialectWith(true), scope, SERVER_MERGE_AT_LEAST - 1)).toBe(false);
  });

  it('refuses any other value, naming the variable and the fix', () => {
    for (const bad of ['yes', 'ON', '1', 'true']) {
      process.env.DSYNC_SERVER_MERGE = bad;
      let error: unknown;
      try {
        serverMergeMay(dialectWith(true), scope, SERVER_MERGE_AT_LEAST);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toBe(`DSYNC_SERVER_MERGE is "${bad}"`);
      expect((error as ConfigError).hint).toMatch(/on or off/);
    }
  });
});
