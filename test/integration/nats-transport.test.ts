/**
 * Transport through NATS JetStream (`via`), against the local nats-server and real
 * databases: writes arrive and the tables end equal; a deliver killed between its inbox
 * commit and its acks leaves a redelivery that is a no-op; a consumer offline for a
 * while catches up; a server restart mid-stream loses and doubles nothing.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransportProgram } from '../../src/config/config.ts';
import type { ValueMap } from '../../src/core/change.ts';
import type { DialectName } from '../../src/core/dialect.ts';
import type { DsyncError } from '../../src/core/errors.ts';
import { insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import { runProgramOnce } from '../../src/runtime/sync.ts';
import { connectNats, type NatsTransportResult, natsNames, natsSettings } from '../../src/runtime/transport/nats-transport.ts';
import { compareTables, hasDifferences } from '../../src/verify/compare-tables.ts';
import { liveDialects, REQUIRE_SERVERS } from '../helpers/databases.ts';
import { ROOT } from '../helpers/fixtures.ts';
import {
  deleteStreams,
  NATS_START_HINT,
  NATS_URL,
  natsAnswers,
  restartNatsServer,
  restartUnavailable,
  uniqueNatsSettings,
} from '../helpers/nats.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const natsUp = await natsAnswers();
if (!natsUp) {
  if (REQUIRE_SERVERS) throw new Error(`NATS (JetStream) does not answer at ${NATS_URL}; start it: ${NATS_START_HINT}`);
  console.warn(`skipping the NATS transport suite: no JetStream server at ${NATS_URL} (start it: ${NATS_START_HINT})`);
}
const PAIRS = (
  [
    ['postgres', 'sqlite'],
    ['sqlite', 'postgres'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));
const cannotRestart = restartUnavailable();
if (cannotRestart) console.warn(`skipping the NATS restart test: ${cannotRestart}`);

const order = (id: string, extra: ValueMap = {}): ValueMap => ({
  order_id: id,
  order_type: 'wholesale',
  description: 'd',
  product_type_name: 'desktop',
  customer_id: 'c1',
  quantity: 1,
  order_date: '2025-05-25',
  update_datetime: '2025-06-25T10:30:00.000000',
  updated_by_user: 'mtp',
  updated_by_server: 'server1',
  ...extra,
});

describe.skipIf(!natsUp).each(PAIRS)('transport via NATS JetStream %s → %s', (from, to) => {
  let pair: SyncPair;
  const ackWaitSeconds = 4;
  const settings = uniqueNatsSettings({ ackWaitSeconds });
  const program = (id: number) => pair.config.programs.find((p) => p.id === id)! as TransportProgram;
  const publish = (id = 1000) =>
    runProgramOnce(pair.config, pair.nodes, program(id), { publish: true, deliver: false }) as Promise<NatsTransportResult>;
  const deliver = (id = 1000) =>
    runProgramOnce(pair.config, pair.nodes, program(id), { publish: false, deliver: true }) as Promise<NatsTransportResult>;
  const importB = () => runProgramOnce(pair.config, pair.nodes, pair.config.programs.find((p) => p.id === 1001)!);
  const inboxB = () => pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_inbox');
  /** a's outbox rows that b should get: all but the changes that came from b. */
  const outboxAForB = () =>
    pair.count(
      pair.a.client,
      "SELECT count(*) FROM ds_change_outbox WHERE updated_by_server_id IS NULL OR updated_by_server_id <> 'server-b'",
    );
  const expectEqual = async (table = 'sales_order') => {
    const result = await compareTables(
      { client: pair.a.client, table: pair.tables.a[table] },
      { client: pair.b.client, table: pair.tables.b[table] },
    );
    expect(hasDifferences(result), JSON.stringify(result.differences?.slice?.(0, 3))).toBe(false);
  };
  const insertOrders = async (prefix: string, n: number) => {
    for (let i = 0; i < n; i++) await insertRow(pair.a.client, pair.tables.a.sales_order, order(`${prefix}${i}`));
  };
  const consumerInfo = async (id = 1000) => {
    const names = natsNames(natsSettings(pair.config), program(id));
    const nc = await connectNats(NATS_URL);
    try {
      const { jetstreamManager } = await import('@nats-io/jetstream');
      return await (await jetstreamManager(nc)).consumers.info(names.stream, names.consumer);
    } finally {
      await nc.close();
    }
  };

  beforeAll(async () => {
    pair = await createSyncPair(from, to, 'latest-wins', { via: NATS_URL, nats: settings });
  });
  afterAll(async () => {
    await pair?.close();
    if (natsUp) await deleteStreams(settings.streamPrefix);
  });

  it('moves writes both ways through the stream; tables end equal and nothing echoes back', async () => {
    await insertOrders('w', 5);
    await updateRow(pair.a.client, pair.tables.a.sales_order, { order_id: 'w1' }, { description: 'changed at a' });
    const first = (await runProgramOnce(pair.config, pair.nodes, program(1000))) as NatsTransportResult;
    expect(first.published).toBe(6);
    expect(first.moved).toBe(6);
    await importB();
    await expectEqual();

    await updateRow(pair.b.client, pair.tables.b.sales_order, { order_id: 'w2' }, { description: 'changed at b' });
    await pair.backward();
    await expectEqual();
    // b's outbox now holds the applied changes from a (origin a) and its own: none of a's goes back.
    const back = (await runProgramOnce(pair.config, pair.nodes, program(1000))) as NatsTransportResult;
    expect(back.moved).toBe(0);
    expect(await inboxB()).toBe(await outboxAForB());

    // `dsync sync` runs both halves of each via program, round after round, until nothing moves.
    await insertRow(pair.b.client, pair.tables.b.sales_order, order('from-b'));
    await updateRow(pair.a.client, pair.tables.a.sales_order, { order_id: 'w3' }, { description: 'synced' });
    const report = await pair.syncAll();
    expect(report.transports.reduce((n, r) => n + r.moved, 0)).toBe(2);
    await expectEqual();
  });

  /** Runs one deliver pass of program 1000 in a child process that SIGKILLs itself before or after its inbox commit. */
  const deliverAndDie = async (when: 'before' | 'after') => {
    const dir = mkdtempSync(join(tmpdir(), 'dsync-nats-'));
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify(pair.config));
      const killed = await new Promise<{ signal: string | null; output: string }>((resolve) => {
        const args = ['--import', 'tsx', join(ROOT, 'test/helpers/nats-deliver-and-die.ts'), join(dir, 'config.json'), '1000', when];
        execFile(process.execPath, args, { cwd: ROOT }, (error, stdout, stderr) =>
          resolve({ signal: (error as { signal?: string } | null)?.signal ?? null, output: stderr + stdout }),
        );
      });
      expect(killed.signal, killed.output).toBe('SIGKILL');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  /** Deliver passes until ack_wait has brought back every unacknowledged message; returns the messages delivered. */
  const deliverUntilAcked = async () => {
    let delivered = 0;
    const deadline = Date.now() + 20_000;
    while ((await consumerInfo()).num_ack_pending > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      delivered += (await deliver()).delivered;
    }
    expect((await consumerInfo()).num_ack_pending).toBe(0);
    return delivered;
  };

  const inboxOps = async (id: string) => {
    const { rows } = await pair.b.client.query<{ op: string }>(
      `SELECT object_operation AS op FROM ds_change_inbox WHERE object_id LIKE '%${id}%' ORDER BY id`,
    );
    return rows.map((r) => r.op);
  };

  it('a deliver killed between its inbox commit and its acks: the redelivery is a no-op', async () => {
    const before = await inboxB();
    await insertOrders('k', 5);
    expect((await publish()).published).toBe(5);
    await deliverAndDie('after');
    expect(await inboxB()).toBe(before + 5);
    expect((await consumerInfo()).num_ack_pending).toBe(5);

    await updateRow(pair.a.client, pair.tables.a.sales_order, { order_id: 'k0' }, { description: 'after the crash' });
    await publish();
    const delivered = (await deliver()).delivered + (await deliverUntilAcked());
    // The five came again (written as no-ops) besides the update: nothing doubled.
    expect(delivered).toBe(6);
    expect(await inboxB()).toBe(before + 6);
    expect(await inboxOps('k0')).toEqual(['I', 'U']);
    await importB();
    await expectEqual();
  });

  it('a deliver killed before its inbox commit: a newer change of the same row still lands after the older ones', async () => {
    const before = await inboxB();
    await insertOrders('j', 5);
    await publish();
    await deliverAndDie('before');
    expect(await inboxB()).toBe(before);
    expect((await consumerInfo()).num_ack_pending).toBe(5);
    // Delivered before ack_wait brings the five back: the unacknowledged range is read first.
    await updateRow(pair.a.client, pair.tables.a.sales_order, { order_id: 'j0' }, { description: 'after the crash' });
    await publish();
    await deliver();
    expect(await inboxOps('j0')).toEqual(['I', 'U']);
    await deliverUntilAcked();
    expect(await inboxB()).toBe(before + 6);
    await importB();
    await expectEqual();
  });

  it('a consumer offline for a while catches up in batches', async () => {
    const before = await inboxB();
    for (let round = 0; round < 3; round++) {
      await insertOrders(`off${round}-`, 60);
      await publish();
    }
    expect((await consumerInfo()).num_pending).toBe(180);
    const caughtUp = await deliver();
    expect(caughtUp.delivered).toBe(180);
    expect(await inboxB()).toBe(before + 180);
    await importB();
    await expectEqual();
  });

  it.skipIf(cannotRestart !== null || from !== PAIRS[0][0])('a NATS server restart mid-stream loses and doubles nothing', async () => {
    const before = await inboxB();
    await insertOrders('r1-', 40);
    await publish();
    await deliver();
    await insertOrders('r2-', 120);
    // The server goes down while a publish pass is under way (it may finish first or fail: either way nothing may be lost or doubled).
    const inflight = publish().then(
      () => 'finished',
      (error: Error) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    await restartNatsServer();
    const outcome = await inflight;
    // A pass that lost the server mid-publish fails with nats_failed; one that connected just as it went down, with nats_connect.
    if (outcome !== 'finished') expect(['nats_failed', 'nats_connect'], String(outcome)).toContain((outcome as DsyncError).code);
    await insertOrders('r3-', 40);
    // The first passes after the restart may still fail while JetStream recovers: retried, as the daemon does.
    const retry = async <T>(fn: () => Promise<T>): Promise<T> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await fn();
        } catch (error) {
          if (attempt >= 30) throw error;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
    };
    await retry(() => publish());
    await retry(() => deliver());
    expect(await inboxB()).toBe(before + 200);
    expect(await inboxB()).toBe(await outboxAForB());
    await importB();
    await expectEqual();
  });
});
