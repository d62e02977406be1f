import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import { type CliCommand, CliError, type CliIo } from '../../src/cli/types.js';

function capture(env: NodeJS.ProcessEnv = {}): CliIo & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    env,
    out: (t: string) => {
      io.stdout += t;
    },
    err: (t: string) => {
      io.stderr += t;
    },
  };
  return io;
}

const seen: string[][] = [];
const commands: CliCommand[] = [
  {
    name: 'echo',
    summary: 'prints its arguments',
    usage: 'Usage: agentline echo ARGS',
    run: async (argv, io) => {
      seen.push(argv);
      io.out(`${argv.join(' ')}\n`);
      return 0;
    },
  },
  {
    name: 'fail',
    summary: 'fails in the ways a command can',
    usage: 'Usage: agentline fail usage|action|bug',
    run: async ([how]) => {
      if (how === 'usage') throw new CliError('fail: bad flag', 2);
      if (how === 'action') throw new CliError('fail: nothing to do');
      throw new TypeError('cannot read properties of undefined');
    },
  },
];

describe('runCli', () => {
  it('hands the rest of the arguments to the named command', async () => {
    const io = capture();
    expect(await runCli(['echo', 'a', '--b'], commands, io, '1.2.3')).toBe(0);
    expect(seen.at(-1)).toEqual(['a', '--b']);
    expect(io.stdout).toBe('a --b\n');
  });

  it('lists the commands for --help, and shows a command for help NAME', async () => {
    const io = capture();
    expect(await runCli(['--help'], commands, io, '1.2.3')).toBe(0);
    expect(io.stdout).toMatch(/echo\s+prints its arguments/);
    expect(io.stdout).toMatch(/fail\s+fails in the ways a command can/);
    const one = capture();
    expect(await runCli(['help', 'fail'], commands, one, '1.2.3')).toBe(0);
    expect(one.stdout).toBe('Usage: agentline fail usage|action|bug\n');
    const v = capture();
    expect(await runCli(['--version'], commands, v, '1.2.3')).toBe(0);
    expect(v.stdout).toBe('1.2.3\n');
  });

  it('exits 2 with help on stderr when no command is given, and for unknown ones', async () => {
    const none = capture();
    expect(await runCli([], commands, none, '1')).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('Usage: agentline <command>');
    const unknown = capture();
    expect(await runCli(['ech'], commands, unknown, '1')).toBe(2);
    expect(unknown.stderr).toBe(`agentline: unknown command "ech"\nRun 'agentline --help' for usage.\n`);
    const badHelp = capture();
    expect(await runCli(['help', 'nope'], commands, badHelp, '1')).toBe(2);
  });

  it('maps failures to exit statuses and messages, without a stack unless AGENTLINE_DEBUG is set', async () => {
    const usage = capture();
    expect(await runCli(['fail', 'usage'], commands, usage, '1')).toBe(2);
    expect(usage.stderr).toBe(`agentline: fail: bad flag\nRun 'agentline fail --help' for usage.\n`);

    const action = capture();
    expect(await runCli(['fail', 'action'], commands, action, '1')).toBe(1);
    expect(action.stderr).toBe('agentline fail: nothing to do\n');

    const bug = capture();
    expect(await runCli(['fail', 'bug'], commands, bug, '1')).toBe(1);
    expect(bug.stderr).toBe('agentline fail: cannot read properties of undefined\n');

    const debug = capture({ AGENTLINE_DEBUG: '1' });
    expect(await runCli(['fail', 'bug'], commands, debug, '1')).toBe(1);
    expect(debug.stderr).toMatch(/TypeError: cannot read properties of undefined\n\s+at /);
  });
});
