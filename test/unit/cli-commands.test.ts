/**
 * The CLI loads only the command it runs (src/cli/commands/index.ts): each name in the
 * index must be the first word of its command's spelling, or yargs would never match it,
 * and the command an argument list names must be found past the options before it.
 */
import { describe, expect, it } from 'vitest';
import { COMMANDS, commandsFor, namedCommand } from '../../src/cli/commands/index.ts';

describe('the CLI command index', () => {
  it('names every command by the first word of its spelling, each once', async () => {
    for (const [name, load] of Object.entries(COMMANDS)) expect((await load()).command.split(' ')[0], name).toBe(name);
    expect(new Set(Object.keys(COMMANDS)).size).toBe(Object.keys(COMMANDS).length);
  });

  it('finds the command past the options before it, and none in an argument list without one', () => {
    expect(namedCommand(['status'])).toBe('status');
    expect(namedCommand(['--config', 'status.json', 'status', '--json'])).toBe('status');
    expect(namedCommand(['--config=x.json', '--verbose', 'verify', 'a', 'b'])).toBe('verify');
    expect(namedCommand(['--', 'run'])).toBe('run');
    expect(namedCommand(['--version'])).toBeUndefined();
    expect(namedCommand(['--config', 'run'])).toBeUndefined();
    expect(namedCommand([])).toBeUndefined();
  });

  it('loads the named command alone, and every command for help or a name that is none', async () => {
    expect((await commandsFor(['--config', 'c.json', 'status'])).map((c) => c.command)).toEqual(['status']);
    expect(await commandsFor(['--help'])).toHaveLength(Object.keys(COMMANDS).length);
    expect(await commandsFor(['statsu'])).toHaveLength(Object.keys(COMMANDS).length);
    // A name inherited from Object.prototype is no command.
    expect(await commandsFor(['constructor'])).toHaveLength(Object.keys(COMMANDS).length);
  });
});
