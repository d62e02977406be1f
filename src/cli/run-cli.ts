import { redactUrls } from '../redact.js';
import { showUsage } from './output.js';
import { type CliCommand, CliError, type CliIo } from './types.js';

/**
 * Dispatches `agentline <command> ...` to a registered command and turns every failure into a message
 * on stderr and an exit status; a stack trace is printed only with AGENTLINE_DEBUG set.
 */
export async function runCli(
  argv: string[],
  commands: readonly CliCommand[],
  io: CliIo,
  version: string,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(`${toolUsage(commands)}\n`);
    return 2;
  }
  if (name === '--help' || name === '-h') return showUsage(io, toolUsage(commands));
  if (name === '--version' || name === '-v') {
    io.out(`${version}\n`);
    return 0;
  }
  if (name === 'help') {
    const target = rest[0] === undefined ? undefined : commands.find((c) => c.name === rest[0]);
    if (rest[0] !== undefined && !target)
      return usageError(io, `unknown command ${JSON.stringify(rest[0])}`, null);
    return showUsage(io, target ? target.usage : toolUsage(commands));
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    return usageError(
      io,
      name.startsWith('-') ? `unknown option ${name}` : `unknown command ${JSON.stringify(name)}`,
      null,
    );
  }
  try {
    return await command.run(rest, io);
  } catch (thrown) {
    // A message may quote a setting (DATABASE_URL, ARI_URL…): never with the credentials in it.
    const err = withoutCredentials(thrown);
    if (err instanceof CliError) {
      if (err.exitCode === 2) return usageError(io, err.message, command);
      io.err(
        `agentline ${err.message.startsWith(`${command.name}`) ? '' : `${command.name}: `}${err.message}\n`,
      );
      return 1;
    }
    const e = err as Error;
    io.err(`agentline ${command.name}: ${e?.message ?? String(err)}\n`);
    if (io.env.AGENTLINE_DEBUG && e?.stack) io.err(`${e.stack}\n`);
    return 1;
  }
}

function withoutCredentials(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  err.message = redactUrls(err.message);
  if (err.stack) err.stack = redactUrls(err.stack);
  return err;
}

function usageError(io: CliIo, message: string, command: CliCommand | null): 2 {
  const help = command ? `agentline ${command.name} --help` : 'agentline --help';
  io.err(`agentline: ${message}\nRun '${help}' for usage.\n`);
  return 2;
}

function toolUsage(commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `agentline: the admin and server command of an agentline deployment

Usage: agentline <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Options:
  --json     print one JSON object on stdout (for scripts); messages go to stderr
  --help     help for the tool, or for a command: agentline <command> --help
  --version  print the version

Settings (DATABASE_URL, DATA_DIR, SECRET_KEY, ...) come from the environment.
Exit status: 0 done, 1 failed, 2 bad usage.`;
}
