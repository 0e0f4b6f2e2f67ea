import { applyCommand } from './apply.ts';
import { captureCommand } from './capture.ts';
import type { Command } from './command.ts';
import { demoCommand } from './demo.ts';
import { errorsCommand, retryCommand, skipCommand } from './errors.ts';
import { generateCommand } from './generate.ts';
import { initCommand } from './init.ts';
import { introspectCommand } from './introspect.ts';
import { loadCommand } from './load.ts';
import { planCommand } from './plan.ts';
import { importCommand, purgeCommand, syncCommand, transportCommand } from './programs.ts';
import { runCommand } from './run.ts';
import { statusCommand } from './status.ts';
import { verifyCommand } from './verify.ts';

export const commands: Command[] = [
  initCommand,
  introspectCommand,
  generateCommand,
  applyCommand,
  planCommand,
  captureCommand,
  transportCommand,
  importCommand,
  syncCommand,
  purgeCommand,
  runCommand,
  statusCommand,
  loadCommand,
  verifyCommand,
  errorsCommand,
  retryCommand,
  skipCommand,
  demoCommand,
];
