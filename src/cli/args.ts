import { parseArgs } from 'node:util';
import { CliError } from './types.js';

type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;
type FlagValues<S extends FlagSpec> = {
  [K in keyof S]?: S[K]['type'] extends 'string' ? string : boolean;
} & { json?: boolean; help?: boolean };

/**
 * Parses a command's flags strictly; every command also takes --json and --help. An unknown flag,
 * a missing value or a stray argument is a usage error (exit 2) that names the command.
 */
export function parseFlags<S extends FlagSpec>(argv: string[], spec: S, command: string): FlagValues<S> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { ...spec, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    return values as FlagValues<S>;
  } catch (err) {
    throw new CliError(`${command}: ${describeParseError(err as NodeJS.ErrnoException)}`, 2);
  }
}

function describeParseError(err: NodeJS.ErrnoException): string {
  const quoted = /'([^']+)'/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${quoted ?? err.message}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${quoted ?? err.message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return (quoted ?? '').includes('<value>')
        ? `${quoted?.replace(' <value>', '')} needs a value`
        : `${quoted ?? err.message} takes no value`;
    default:
      return err.message;
  }
}

/** The value of a required string flag, or a usage error naming it. */
export function required(value: string | undefined, flag: string, command: string): string {
  if (value === undefined || value.trim() === '') throw new CliError(`${command}: missing --${flag}`, 2);
  return value.trim();
}
