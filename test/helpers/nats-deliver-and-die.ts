/**
 * Child process of the JetStream tests: one deliver pass of a program that SIGKILLs
 * itself, as a crash would, after its first fetch: before the inbox commit (`before`) or
 * after it and before any ack (`after`).
 * Usage: node --import tsx nats-deliver-and-die.ts CONFIG.json PROGRAM_ID before|after
 */
import { readFileSync } from 'node:fs';
import type { Config, TransportProgram } from '../../src/config/config.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { natsTransportOnce } from '../../src/runtime/transport/nats-transport.ts';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Config;
const program = config.programs.find((p) => p.id === Number(process.argv[3])) as TransportProgram;
const die = () => process.kill(process.pid, 'SIGKILL');
await natsTransportOnce(
  config,
  new NodeSet(config),
  program,
  { publish: false, deliver: true },
  process.argv[4] === 'before' ? { beforeInboxCommit: die } : { afterInboxCommit: die },
);
console.log('deliver pass ended without being killed');
