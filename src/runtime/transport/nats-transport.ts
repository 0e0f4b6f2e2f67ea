/**
 * A transport program with `via: "nats://…"` (docs/nats.md): the outbox goes through a
 * NATS JetStream stream in two halves that may run at different sites.
 *
 * - publish (where the source is reachable): outbox rows past the pointer, up to the safe
 *   horizon, into the source node's stream; the pointer moves only once every publish of
 *   the batch is acknowledged. Nats-Msg-Id is origin server + ':' + origin change id, so
 *   a resend within the duplicate window is dropped by the server, and one after it by
 *   the inbox.
 * - deliver (where the destination is reachable): a durable pull consumer per program
 *   and destination; a batch is written to the inbox in stream order (insert ignoring
 *   duplicates) and acknowledged only after that commit. A redelivery is a no-op: the
 *   inbox is unique on (updated_by_server_id, origin_change_id).
 *
 * The stream, its consumers and the connection: nats-stream.ts.
 */
import { boundedServerId } from '../../core/bounded-text.ts';
import type { Config, TransportProgram } from '../../config/config.ts';
import { ConnectionError, describeError, DsyncError, RuntimeError } from '../../core/errors.ts';
import { redactSecrets } from '../../core/redact.ts';
import { writeRows } from '../import/row-writer.ts';
import { type NodeHandle, type NodeSet, requireSyncObjects } from '../nodes.ts';
import { pointerBatches, readProgramState, saveProgramState } from '../program-state.ts';
import {
  connectNats,
  ensureStream,
  isNatsError,
  type Jetstream,
  type NatsConnection,
  type NatsNames,
  natsSettings,
} from './nats-stream.ts';
import { countAbove, INBOX_COLUMNS, outboxBatchSql, toInboxValues, type TransportResult } from './transport.ts';

export { connectNats, natsNames, natsSettings, natsToken } from './nats-stream.ts';

/** Which halves a pass runs; a daemon scoped to one node runs only its own. */
export interface Halves {
  publish: boolean;
  deliver: boolean;
}

export const BOTH_HALVES: Halves = { publish: true, deliver: true };

export interface NatsTransportResult extends TransportResult {
  /** Messages the stream acknowledged in the publish half (duplicates it dropped included). */
  published: number;
  /** Messages acknowledged in the deliver half (echoes and redeliveries included). */
  delivered: number;
}

/** Hooks for tests (a crash injected at the two points that matter) around a deliver batch's inbox commit. */
export interface NatsPassHooks {
  beforeInboxCommit?: () => void;
  afterInboxCommit?: () => void;
}

/**
 * One pass of a via program: publish then deliver (each only if asked). Connections to
 * the nodes come from `nodes`; NATS is connected for the pass and closed after it.
 */
export async function natsTransportOnce(
  config: Config,
  nodes: NodeSet,
  program: TransportProgram,
  halves: Halves = BOTH_HALVES,
  hooks: NatsPassHooks = {},
): Promise<NatsTransportResult> {
  const js = (await import('@nats-io/jetstream')) as Jetstream;
  const settings = natsSettings(config);
  const result: NatsTransportResult = {
    program: program.id,
    moved: 0,
    skippedEcho: 0,
    pointer: 0,
    horizon: 0,
    heldBack: 0,
    published: 0,
    delivered: 0,
  };
  const via = program.via ?? '';
  const nc = await connectNats(via);
  try {
    const { jsm, names } = await ensureStream(js, nc, settings, program);
    if (halves.publish) await publishHalf(js, nc, names, program, await nodes.get(program.from), config.nodes[program.to].serverId, result);
    if (halves.deliver) await deliverHalf(js, nc, jsm, names, program, await nodes.get(program.to), result, hooks);
    // What a pass moved: rows into the inbox when it delivers, messages into the stream when it only publishes.
    if (!halves.deliver) result.moved = result.published;
    return result;
  } catch (error) {
    if (error instanceof DsyncError || !(await isNatsError(error, js))) throw error;
    // A NATS client error (closed connection, timeout, JetStream API): one line naming where.
    throw new ConnectionError(
      'nats_failed',
      `program ${program.id}: NATS at ${redactSecrets(via)}: ${redactSecrets(describeError(error))}`,
      {
        hint: 'the pass is retried whole (already published or delivered changes are no-ops); check the NATS server and its JetStream',
      },
      { cause: error },
    );
  } finally {
    await nc.close().catch(() => undefined);
  }
}

async function publishHalf(
  js: Jetstream,
  nc: NatsConnection,
  names: NatsNames,
  program: TransportProgram,
  source: NodeHandle,
  targetServerId: string,
  result: NatsTransportResult,
) {
  const src = source.client;
  const state = await readProgramState(src, program, source.node.name);
  await requireSyncObjects(source, ['ds_change_outbox']);
  const horizon = await src.dialect.readSafeHorizon(src, 'ds_change_outbox');
  const client = js.jetstream(nc);
  result.horizon = horizon;
  let pointer = state.pointer;
  try {
    for await (const { rows, upTo } of pointerBatches(src, 'ds_change_outbox', outboxBatchSql(src), pointer, horizon, program.batchSize)) {
      const acks: Promise<unknown>[] = [];
      for (const row of rows) {
        const values = toInboxValues(row, source.node.serverId);
        const change = Object.fromEntries(INBOX_COLUMNS.map((column, i) => [column, values[i]]));
        if (change.updated_by_server_id === boundedServerId(targetServerId)) {
          result.skippedEcho++;
          continue;
        }
        // In id order on one connection: the stream stores them in that order.
        acks.push(
          client.publish(names.subject(String(change.object_table)), JSON.stringify(change), {
            msgID: `${change.updated_by_server_id}:${change.origin_change_id}`,
          }),
        );
      }
      await Promise.all(acks);
      result.published += acks.length;
      pointer = upTo;
      await saveProgramState(src, program.id, { pointer, status: 'ok', message: `published ${result.published}` });
    }
    result.pointer = pointer;
    result.heldBack = await countAbove(src, 'ds_change_outbox', horizon);
    if (pointer === state.pointer) await saveProgramState(src, program.id, { status: 'ok', message: 'nothing to publish' });
  } catch (error) {
    await saveProgramState(src, program.id, { status: 'error', message: redactSecrets(describeError(error)) }).catch(() => undefined);
    throw error;
  }
}

/** Messages as inbox values, in stream order, without the ones that came from the destination. */
function inboxValuesOf(messages: Array<{ seq: number; json<T>(): T }>, targetServerId: string, result: NatsTransportResult): unknown[][] {
  const values: unknown[][] = [];
  for (const m of [...messages].sort((a, b) => a.seq - b.seq)) {
    const change = m.json<Record<string, unknown>>();
    // The stream is shared by every destination of this source: skip what came from ours.
    if (change.updated_by_server_id === boundedServerId(targetServerId)) {
      result.skippedEcho++;
      continue;
    }
    values.push(INBOX_COLUMNS.map((column) => change[column] ?? null));
  }
  return values;
}

async function deliverHalf(
  js: Jetstream,
  nc: NatsConnection,
  jsm: Awaited<ReturnType<Jetstream['jetstreamManager']>>,
  names: NatsNames,
  program: TransportProgram,
  target: NodeHandle,
  result: NatsTransportResult,
  hooks: NatsPassHooks,
) {
  await requireSyncObjects(target, ['ds_change_inbox']);
  const write = async (values: unknown[][]) => {
    if (values.length > 0) await target.client.transaction((tx) => writeRows(tx, 'ds_change_inbox', INBOX_COLUMNS, values, true));
    result.moved += values.length;
  };
  const consumer = await js.jetstream(nc).consumers.get(names.stream, names.consumer);
  const info = await consumer.info();
  const stream = await jsm.streams.info(names.stream);
  if (info.delivered.stream_seq > 0 && info.delivered.stream_seq + 1 < stream.state.first_seq) {
    throw new RuntimeError(
      'nats_expired',
      `program ${program.id}: stream ${names.stream} dropped messages ${info.delivered.stream_seq + 1}..${stream.state.first_seq - 1} (older than nats.maxAgeSeconds) before ${program.to} read them`,
      {
        hint: `the destination was offline longer than the stream keeps messages: run \`dsync verify\` and repair ${program.to}, then raise nats.maxAgeSeconds`,
      },
    );
  }
  // Messages handed to a pass that died before its acks come back only after ack_wait;
  // newer ones fetched now would reach the inbox ahead of them (same-row order). So the
  // unacknowledged range is read from the stream and written first; its redelivery later
  // is a no-op.
  if (info.num_ack_pending > 0) {
    const replay = [];
    for (let seq = info.ack_floor.stream_seq + 1; seq <= info.delivered.stream_seq; seq++) {
      const stored = await jsm.streams.getMessage(names.stream, { seq }).catch(() => null);
      if (stored) replay.push(stored);
    }
    await write(inboxValuesOf(replay, target.node.serverId, result));
  }
  // Nothing new and nothing to hand out again: no fetch, which would wait out its expiry.
  if (info.num_pending === 0 && info.num_ack_pending === 0) {
    result.pointer = info.delivered.stream_seq;
    return;
  }
  for (;;) {
    const batch = await consumer.fetch({ max_messages: program.batchSize, expires: 1000 });
    const messages = [];
    for await (const m of batch) messages.push(m);
    if (messages.length === 0) break;
    hooks.beforeInboxCommit?.();
    await write(inboxValuesOf(messages, target.node.serverId, result));
    hooks.afterInboxCommit?.();
    for (const m of messages) m.ack();
    await nc.flush();
    result.delivered += messages.length;
    result.pointer = Math.max(...messages.map((m) => m.seq));
    if (messages.length < program.batchSize) break;
  }
  if (result.pointer === 0) result.pointer = info.delivered.stream_seq;
}
