/** `dsync transport`, `dsync import` (one pass, or --watch at the program's interval), `dsync sync` and `dsync purge`. */
import type { ImportResult } from '../../runtime/import/import.ts';
import { summary } from '../../runtime/import/import.ts';
import { boundHeap } from '../../runtime/heap.ts';
import { NodeSet } from '../../runtime/nodes.ts';
import { runProgramOnce, runProgramSettled, syncAll } from '../../runtime/sync.ts';
import type { TransportResult } from '../../runtime/transport/transport.ts';
import type { NatsTransportResult } from '../../runtime/transport/nats-transport.ts';
import { type Config, getNode, getProgram } from '../../config/config.ts';
import { purge } from '../../runtime/purge.ts';
import { loadConfig } from '../config-file.ts';
import { printJson } from '../output.ts';
import { describeError } from '../../core/errors.ts';
import type { Command, GlobalArgs } from './command.ts';

export function describeRun(result: TransportResult | ImportResult): string {
  if ('published' in result) {
    const r = result as NatsTransportResult;
    return `program ${r.program}: published ${r.published} change(s) to NATS, delivered ${r.delivered} message(s), ${r.moved} into the inbox${r.skippedEcho ? `, ${r.skippedEcho} not sent back to their origin` : ''}`;
  }
  if ('moved' in result) {
    return `program ${result.program}: moved ${result.moved} change(s)${result.skippedEcho ? `, ${result.skippedEcho} not sent back to their origin` : ''}, pointer ${result.pointer}`;
  }
  return `program ${result.program}: ${summary(result)}, pointer ${result.pointer}`;
}

function heldBackNote(result: TransportResult | ImportResult): string {
  return result.heldBack > 0 ? ` (${result.heldBack} committed change(s) wait behind a transaction still open)` : '';
}

/** Runs `once` now and then every `seconds` until SIGINT/SIGTERM; a failed pass is reported and retried at the next tick. */
export async function repeat(seconds: number, once: () => Promise<void>): Promise<void> {
  let stop = false;
  let wake: () => void = () => undefined;
  const onSignal = () => {
    stop = true;
    wake();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (!stop) {
      try {
        await once();
      } catch (error) {
        console.error(`dsync: ${describeError(error)} (next try in ${seconds}s)`);
      }
      if (stop) break;
      // A referenced timer: it is what keeps the process alive between passes.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, seconds * 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function programCommand(type: 'transport' | 'import'): Command<GlobalArgs & { program: number; watch: boolean; json: boolean }> {
  return {
    command: type,
    describe:
      type === 'transport'
        ? 'one pass of a transport program: outbox → destination inbox'
        : 'one pass of an import program: inbox → tables',
    builder: (y) =>
      y
        .option('program', { type: 'number', demandOption: true, describe: 'program id from the config' })
        .option('watch', { type: 'boolean', default: false, describe: "repeat at the program's interval until stopped" })
        .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
    async run(args) {
      boundHeap();
      const config: Config = loadConfig(args.config);
      const program = getProgram(config, args.program);
      if (program.type !== type) {
        throw new (await import('../../core/errors.ts')).ConfigError(
          'wrong_program_type',
          `program ${program.id} is a ${program.type} program`,
          {
            hint: `run \`dsync ${program.type} --program ${program.id}\``,
          },
        );
      }
      const nodes = new NodeSet(config);
      try {
        const once = async () => {
          // A one-shot pass waits briefly for rows held back by a transaction still open; --watch simply comes back.
          const result = args.watch ? await runProgramOnce(config, nodes, program) : await runProgramSettled(config, nodes, program);
          if (args.json) printJson(result);
          else console.log(`${describeRun(result)}${heldBackNote(result)}`);
        };
        if (args.watch) await repeat(program.intervalSeconds, once);
        else await once();
      } finally {
        await nodes.closeAll();
      }
      return 0;
    },
  };
}

export const transportCommand = programCommand('transport');
export const importCommand = programCommand('import');

export const syncCommand: Command<GlobalArgs & { json: boolean }> = {
  command: 'sync',
  describe: 'run every program, transports then imports, until nothing is left to move',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
  async run(args) {
    boundHeap();
    const config = loadConfig(args.config);
    const nodes = new NodeSet(config);
    try {
      const report = await syncAll(config, nodes);
      if (args.json) printJson(report);
      else {
        const moved = report.transports.reduce((n, r) => n + r.moved, 0);
        const applied = report.imports.reduce((n, r) => n + r.applied, 0);
        const parked = report.imports.reduce((n, r) => n + r.parked + r.waiting, 0);
        const conflicts = report.imports.reduce((n, r) => n + r.conflicts, 0);
        console.log(`sync: ${report.rounds} round(s), moved ${moved}, applied ${applied}, conflicts ${conflicts}, parked ${parked}`);
        if (parked > 0) console.log('  parked changes wait for you: see `dsync errors`');
        if (report.heldBack > 0)
          console.log(
            `  ${report.heldBack} committed change(s) still wait behind a transaction open on a node; run sync again when it ends`,
          );
      }
    } finally {
      await nodes.closeAll();
    }
    return 0;
  },
};

export const purgeCommand: Command<GlobalArgs & { node?: string; json: boolean }> = {
  command: 'purge',
  describe: 'delete outbox rows every transport has passed and inbox rows already imported',
  builder: (y) =>
    y
      .option('node', { type: 'string', describe: 'only this node' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
  async run(args) {
    const config = loadConfig(args.config);
    if (args.node) getNode(config, args.node);
    const nodes = new NodeSet(config);
    try {
      const results = await purge(config, nodes, args.node);
      if (args.json) printJson(results);
      else
        for (const r of results)
          console.log(
            `node ${r.node}: deleted ${r.outboxDeleted} outbox row(s)${r.outboxUpTo === null ? ' (no transport reads it)' : ` up to id ${r.outboxUpTo}`}, ${r.inboxDeleted} inbox row(s)${r.inboxUpTo === null ? ' (no import)' : ` up to id ${r.inboxUpTo}`}`,
          );
    } finally {
      await nodes.closeAll();
    }
    return 0;
  },
};
