import { applyCommand } from './apply.ts';
import type { Command } from './command.ts';
import { generateCommand } from './generate.ts';
import { initCommand } from './init.ts';
import { introspectCommand } from './introspect.ts';

export const commands: Command[] = [initCommand, introspectCommand, generateCommand, applyCommand];
