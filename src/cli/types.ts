/** What a command may touch of the outside world; tests and the entry point pass their own. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

/** One `agentline <name>` command: a module in src/cli/ registered in src/cli.ts. */
export interface CliCommand {
  name: string;
  /** One line for the tool's help. */
  summary: string;
  /** The command's full help text, shown by `agentline <name> --help` and after a usage error. */
  usage: string;
  /** Resolves to the process exit status: 0 done, 1 failed, 2 bad usage. */
  run(argv: string[], io: CliIo): Promise<number>;
}

/** A failure with a message for the operator and no stack: 1 for a failed action, 2 for bad usage. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
