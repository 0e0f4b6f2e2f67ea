/**
 * The local NATS server for the JetStream transport tests: whether it answers, names of
 * streams that belong to one test, their removal, and a restart of the server itself.
 * With DSYNC_REQUIRE_SERVERS=1 a server that does not answer is a failure, not a skip.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

export const NATS_URL = process.env.DSYNC_NATS_URL ?? 'nats://127.0.0.1:4222';
export const NATS_SERVER = '/usr/sbin/nats-server';
export const NATS_START = [
  '--start',
  '--oknodo',
  '--background',
  '--exec',
  NATS_SERVER,
  '--',
  '-a',
  '127.0.0.1',
  '-p',
  '4222',
  '-js',
  '-sd',
  '/var/lib/nats-server',
  '-l',
  '/var/log/nats-server.log',
];
export const NATS_START_HINT = `start-stop-daemon ${NATS_START.join(' ')}`;

/** True when a JetStream-enabled server answers at NATS_URL. */
export async function natsAnswers(): Promise<boolean> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  try {
    const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, ''), timeout: 1000, reconnect: false });
    try {
      await (await jetstreamManager(nc)).getAccountInfo();
      return true;
    } finally {
      await nc.close();
    }
  } catch {
    return false;
  }
}

/** Stream and subject prefixes no other test uses (two streams may not share subjects). */
export function uniqueNatsSettings(extra: Record<string, unknown> = {}) {
  const tag = randomBytes(4).toString('hex');
  return { streamPrefix: `T${tag}`, subjectPrefix: `t${tag}`, ...extra };
}

/** Deletes every stream named with `streamPrefix` (its consumers go with it). */
export async function deleteStreams(streamPrefix: string): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, ''), timeout: 2000 });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const name of jsm.streams.names()) if (name.startsWith(`${streamPrefix}_`)) await jsm.streams.delete(name);
  } finally {
    await nc.close();
  }
}

/** Why the server cannot be restarted from here, or null when it can (root, local binary). */
export function restartUnavailable(): string | null {
  if (process.env.DSYNC_NATS_URL) return 'DSYNC_NATS_URL points at a server this test does not own';
  if (process.getuid?.() !== 0) return 'restarting nats-server needs root';
  if (!existsSync(NATS_SERVER)) return `${NATS_SERVER} is not installed`;
  return null;
}

async function waitFor(up: boolean, seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while ((await natsAnswers()) !== up) {
    if (Date.now() > deadline) throw new Error(`nats-server did not ${up ? 'come up' : 'stop'} within ${seconds}s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The store folders of the tests' private servers start with this (startPrivateNats). */
const PRIVATE_STORE = 'dsync-nats-';

/**
 * Pids of the nats-servers that are not a test's private one: a restart of the shared server
 * must not stop the private server of a test file that runs beside it (three-node-run).
 */
function sharedNatsPids(): number[] {
  let listing: string;
  try {
    listing = execFileSync('pgrep', ['-a', '-x', 'nats-server']).toString();
  } catch {
    return []; // none running
  }
  return listing
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.includes(PRIVATE_STORE))
    .map((line) => Number(line.trim().split(' ')[0]));
}

/** Stops the local nats-server and starts it again with the same store; resolves once it answers. */
export async function restartNatsServer(): Promise<void> {
  for (const pid of sharedNatsPids()) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone already: start it all the same
    }
  }
  await waitFor(false, 20);
  // Started by itself, not by start-stop-daemon: `--exec` would take a test's private
  // nats-server for this one ("already running") and start nothing.
  spawn(NATS_SERVER, NATS_START.slice(NATS_START.indexOf('--') + 1), { detached: true, stdio: 'ignore' }).unref();
  await waitFor(true, 30);
}

export interface PrivateNats {
  url: string;
  /** Stops the server (SIGTERM, by its pid) and starts it again on the same port and store; resolves once it answers. */
  restart(): Promise<void>;
  /** Stops the server and removes its store. */
  destroy(): Promise<void>;
}

/** Whether a JetStream server answers at `url`. */
async function answersAt(url: string): Promise<boolean> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  try {
    const nc = await connect({ servers: url.replace(/^nats:\/\//, ''), timeout: 1000, reconnect: false });
    try {
      await (await jetstreamManager(nc)).getAccountInfo();
      return true;
    } finally {
      await nc.close();
    }
  } catch {
    return false;
  }
}

/**
 * A nats-server of a test's own (JetStream, a free loopback port, a temporary store), so
 * that a test can restart it without disturbing the shared server other tests use.
 * Null when the binary is not installed.
 */
export async function startPrivateNats(): Promise<PrivateNats | null> {
  if (!existsSync(NATS_SERVER)) return null;
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { freePort } = await import('./private-postgres.ts');
  const dir = mkdtempSync(join(tmpdir(), PRIVATE_STORE));
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  let child: import('node:child_process').ChildProcess | null = null;
  const waitUntil = async (up: boolean) => {
    for (const deadline = Date.now() + 30_000; (await answersAt(url)) !== up; ) {
      if (Date.now() > deadline) throw new Error(`private nats-server at ${url} did not ${up ? 'come up' : 'stop'} within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const start = async () => {
    child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' });
    await waitUntil(true);
  };
  const stop = async () => {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url,
    async restart() {
      await stop();
      await start();
    },
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
