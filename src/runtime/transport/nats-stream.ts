/**
 * The NATS side of a transport `via` NATS (docs/nats.md): the connection, the names of
 * streams, subjects and consumers, and the stream and consumer themselves, created or
 * brought in line with the config. The NATS client loads only when a program uses it.
 */
import type { Config, NatsSettings, TransportProgram } from '../../config/config.ts';
import { NATS_DEFAULTS } from '../../config/config.ts';
import { ConnectionError, describeError } from '../../core/errors.ts';
import { redactSecrets } from '../../core/redact.ts';

export type Jetstream = typeof import('@nats-io/jetstream');
export type NatsConnection = Awaited<ReturnType<typeof import('@nats-io/transport-node')['connect']>>;
export type NatsNames = ReturnType<typeof natsNames>;

/** A name part safe as a NATS subject token and stream name: [A-Za-z0-9-] kept, every other byte `_xx`. */
export function natsToken(name: string): string {
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9-]/.test(c) ? c : `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export function natsSettings(config: Config): NatsSettings {
  return config.nats ?? NATS_DEFAULTS;
}

/** The stream of a source node, its subjects and the consumer of a program's destination. */
export function natsNames(settings: NatsSettings, program: TransportProgram) {
  const source = natsToken(program.from);
  return {
    stream: `${settings.streamPrefix}_${source}`,
    subjects: `${settings.subjectPrefix}.${source}.>`,
    subject: (table: string) => `${settings.subjectPrefix}.${source}.${natsToken(table)}`,
    consumer: `dsync_${program.id}_${natsToken(program.to)}`,
  };
}

/** Connects to a `via` URL; user and password (or a token) come from its userinfo. */
export async function connectNats(via: string): Promise<NatsConnection> {
  const url = new URL(via);
  const { connect } = await import('@nats-io/transport-node');
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  try {
    return await connect({
      servers: `${url.hostname}:${url.port || 4222}`,
      ...(pass ? { user, pass } : user ? { token: user } : {}),
      ...(url.protocol === 'tls:' ? { tls: {} } : {}),
      name: 'dsync',
      timeout: 5000,
      // No reconnect: publishes buffered across a reconnect could land after a later one
      // that got through first, reordering same-row changes. A broken pass is retried whole.
      reconnect: false,
    });
  } catch (error) {
    throw new ConnectionError(
      'nats_connect',
      `cannot reach NATS at ${redactSecrets(via)}: ${redactSecrets(describeError(error))}`,
      {
        hint: 'check that nats-server runs with JetStream (-js) and that the address and credentials in "via" are right',
      },
      { cause: error },
    );
  }
}

/** Creates the source node's stream and the program's consumer, or brings their limits in line with the config. */
export async function ensureStream(js: Jetstream, nc: NatsConnection, settings: NatsSettings, program: TransportProgram) {
  const names = natsNames(settings, program);
  const jsm = await js.jetstreamManager(nc);
  const wanted = {
    subjects: [names.subjects],
    storage: js.StorageType.File,
    retention: js.RetentionPolicy.Limits,
    discard: js.DiscardPolicy.Old,
    max_age: Math.round(settings.maxAgeSeconds * 1e9),
    duplicate_window: Math.round(settings.duplicateWindowSeconds * 1e9),
    num_replicas: settings.replicas,
  };
  try {
    const info = await jsm.streams.info(names.stream);
    const c = info.config;
    if (c.max_age !== wanted.max_age || c.duplicate_window !== wanted.duplicate_window || c.num_replicas !== wanted.num_replicas) {
      await jsm.streams.update(names.stream, {
        ...c,
        max_age: wanted.max_age,
        duplicate_window: wanted.duplicate_window,
        num_replicas: wanted.num_replicas,
      });
    }
  } catch (error) {
    if (!(error instanceof js.JetStreamApiError) || error.code !== js.JetStreamApiCodes.StreamNotFound) throw error;
    await jsm.streams.add({ name: names.stream, ...wanted });
  }
  // The consumer exists before the first publish, so no message is ever older than its reader.
  const ackWait = Math.round(settings.ackWaitSeconds * 1e9);
  try {
    const { config } = await jsm.consumers.info(names.stream, names.consumer);
    if (config.ack_wait !== ackWait || config.max_ack_pending !== program.batchSize) {
      await jsm.consumers.update(names.stream, names.consumer, { ack_wait: ackWait, max_ack_pending: program.batchSize });
    }
  } catch (error) {
    if (!(error instanceof js.JetStreamApiError) || error.code !== js.JetStreamApiCodes.ConsumerNotFound) throw error;
    await jsm.consumers.add(names.stream, {
      durable_name: names.consumer,
      description: `dsync program ${program.id}: ${program.from} -> ${program.to}`,
      ack_policy: js.AckPolicy.Explicit,
      deliver_policy: js.DeliverPolicy.All,
      ack_wait: ackWait,
      // One batch in flight: nothing newer is handed out while a batch waits for its ack.
      max_ack_pending: program.batchSize,
    });
  }
  return { jsm, names };
}

/** An error of the NATS client or of JetStream (not of a database the pass also talks to). */
export async function isNatsError(error: unknown, js: Jetstream): Promise<boolean> {
  const { errors } = await import('@nats-io/transport-node');
  const classes: Array<abstract new (...args: never[]) => unknown> = [js.JetStreamError, js.JetStreamApiError, ...Object.values(errors)];
  return classes.some((kind) => error instanceof kind);
}
