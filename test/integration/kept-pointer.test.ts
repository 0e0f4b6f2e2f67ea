/**
 * A daemon's passes start from the pointer they kept from the last pass (program-state.ts
 * keptPointers) and move it by compare-and-set. Here a second importer (a manual
 * `dsync import`, its own connection) moves the import's pointer between two passes of
 * the first: the first must not apply again what the second applied, and must go on from
 * where the second stopped. The same for a transport whose pointer a person set back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../src/core/errors.ts';
import { type ImportResult, importOnce } from '../../src/runtime/import/import.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { runProgramSettled } from '../../src/runtime/sync.ts';
import type { TransportResult } from '../../src/runtime/transport/transport.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

// Settled passes: a MariaDB horizon may hold committed rows back for a moment (sync.ts runProgramSettled).
const targets = (await liveDialects()).filter((d) => d === 'postgres' || d === 'mysql' || d === 'sqlite');

describe.each(targets)('a pointer moved by another pass, postgres → %s', (to) => {
  let pair: SyncPair;
  let other: NodeSet;
  const program = (id: number) => pair.config.programs.find((p) => p.id === id)!;
  beforeAll(async () => {
    pair = await createSyncPair('postgres', to);
    other = new NodeSet(pair.config);
  });
  afterAll(async () => {
    await other?.closeAll();
    await pair?.close();
  });

  it('an import whose kept pointer is stale applies only what is new', async () => {
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('kept-1', 1)");
    await runProgramSettled(pair.config, pair.nodes, program(1000));
    const first = (await runProgramSettled(pair.config, pair.nodes, program(1001))) as ImportResult;
    expect(first.applied).toBe(1);

    // Another importer takes the next change: the first one's kept pointer is now behind.
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('kept-2', 2)");
    await runProgramSettled(pair.config, pair.nodes, program(1000));
    const second = (await runProgramSettled(pair.config, other, program(1001))) as ImportResult;
    expect(second.applied).toBe(1);

    await pair.a.client.exec("UPDATE sales_order SET quantity = 3 WHERE order_id = 'kept-2'");
    await runProgramSettled(pair.config, pair.nodes, program(1000));
    const third = (await runProgramSettled(pair.config, pair.nodes, program(1001))) as ImportResult;
    // Only the update: the insert of kept-2 is not applied (nor found unchanged) a second time.
    expect({ applied: third.applied, unchanged: third.unchanged, conflicts: third.conflicts }).toEqual({
      applied: 1,
      unchanged: 0,
      conflicts: 0,
    });
    expect(third.pointer).toBe(second.pointer + 1);
    expect(await pair.count(pair.b.client, "SELECT quantity FROM sales_order WHERE order_id = 'kept-2'")).toBe(3);
    expect(await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_conflict')).toBe(0);
  }, 60_000);

  it('a transport whose pointer was set back sends again from there', async () => {
    const before = (await runProgramSettled(pair.config, pair.nodes, program(1000))) as TransportResult;
    await pair.b.client.exec('DELETE FROM ds_change_inbox');
    // A person sets the pointer back to send everything again (the inbox was emptied).
    await pair.a.client.exec('UPDATE ds_program_parameter SET last_pointer = 0 WHERE id = 1000');
    // The first pass after it finds its kept pointer stale (nothing to move, the compare-and-set fails);
    // the next one reads the row and sends everything again.
    await runProgramSettled(pair.config, pair.nodes, program(1000));
    const again = (await runProgramSettled(pair.config, pair.nodes, program(1000))) as TransportResult;
    expect(again.pointer).toBe(before.pointer);
    expect(await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_inbox')).toBe(before.pointer);
  }, 60_000);
});

describe.skipIf(!targets.includes('postgres'))('an import that loses every compare-and-set, postgres → postgres', () => {
  let pair: SyncPair;
  beforeAll(async () => {
    pair = await createSyncPair('postgres', 'postgres');
  });
  afterAll(async () => {
    await pair?.close();
  });

  it('begins again, then stops with pointer_moved naming the program, having applied nothing', async () => {
    const program = (id: number) => pair.config.programs.find((p) => p.id === id)!;
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('lost-1', 1), ('lost-2', 2)");
    await runProgramSettled(pair.config, pair.nodes, program(1000));
    // Another importer that always wins: every move of the import's pointer finds it "moved" (0 rows updated).
    await pair.b.client.exec(`CREATE FUNCTION ds_test_hold_pointer() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.id = 1001 AND NEW.last_pointer <> OLD.last_pointer THEN RETURN NULL; END IF; RETURN NEW; END $$;
      CREATE TRIGGER ds_test_hold_pointer BEFORE UPDATE ON ds_program_parameter FOR EACH ROW EXECUTE FUNCTION ds_test_hold_pointer()`);
    const handle = await pair.nodes.get('b');
    const refused = await importOnce(pair.config, program(1001), handle).then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(RuntimeError);
    expect((refused as RuntimeError).code).toBe('pointer_moved');
    expect((refused as RuntimeError).message).toMatch(/^program 1001: another import kept moving the pointer \(8 passes begun again\)/);
    expect(await pair.count(pair.b.client, "SELECT count(*) FROM sales_order WHERE order_id LIKE 'lost-%'")).toBe(0);
    expect(await pair.count(pair.b.client, 'SELECT last_pointer FROM ds_program_parameter WHERE id = 1001')).toBe(0);

    // The other importer gone, the next pass applies both changes once.
    await pair.b.client.exec('DROP TRIGGER ds_test_hold_pointer ON ds_program_parameter; DROP FUNCTION ds_test_hold_pointer()');
    const after = (await runProgramSettled(pair.config, pair.nodes, program(1001))) as ImportResult;
    expect(after.applied).toBe(2);
    expect(await pair.count(pair.b.client, "SELECT count(*) FROM sales_order WHERE order_id LIKE 'lost-%'")).toBe(2);
  }, 60_000);
});
