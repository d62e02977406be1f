import { parseFlags } from './args.js';
import { showUsage } from './output.js';
import { type CliCommand, CliError } from './types.js';

const ROLES = ['all', 'api', 'worker'] as const;
type Role = (typeof ROLES)[number];

const usage = `Usage:
  agentline serve [--role all|api|worker]

Runs agentline until SIGTERM or SIGINT (Ctrl-C), then stops cleanly and exits 0.
  all     the API, a call worker and the webhook deliverer in one process (default)
  api     only the HTTP API; run any number of them behind a load balancer
  worker  only a call worker (with its PBX connection) and the webhook deliverer
Settings come from the environment (see .env.example). Without DATABASE_URL the embedded
database under DATA_DIR is used, which only one process may open.
Under a process manager (systemd, supervisord, a container's CMD) start
\`node bin/agentline.js serve\` itself: through \`npm start\` or \`npx\` a SIGTERM stops only the
npm and shell wrappers and leaves the server running with its port held.`;

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'run the API server, call worker and webhook deliverer',
  usage,
  async run(argv, io) {
    const flags = parseFlags(argv, { role: { type: 'string' } }, 'serve');
    if (flags.help) return showUsage(io, usage);
    // The server logs JSON lines to stdout, so there is no single result object to print.
    if (flags.json)
      throw new CliError('serve: --json is not supported; the server logs JSON lines to stdout', 2);
    const role = (flags.role ?? 'all') as Role;
    if (!ROLES.includes(role)) {
      throw new CliError(
        `serve: --role must be one of ${ROLES.join(', ')}, not ${JSON.stringify(flags.role)}`,
        2,
      );
    }

    // Handlers go in before the start, so a signal during a slow start still shuts down cleanly.
    const stopRequested = onShutdownSignal(io);
    let running: { stop(): Promise<void> };
    try {
      // Loaded only here, so the admin commands never pay for the server's engines and routes.
      const { startAgentline } = await import('../main.js');
      running = await startAgentline({ role, env: io.env });
    } catch (err) {
      stopRequested.dispose();
      throw new CliError(`serve: cannot start: ${(err as Error).message}`);
    }
    await stopRequested.promise;
    try {
      await running.stop();
    } catch (err) {
      throw new CliError(`serve: error while stopping: ${(err as Error).message}`);
    } finally {
      stopRequested.dispose();
    }
    return 0;
  },
};

/** Resolves on the first SIGTERM/SIGINT; a second one while stopping exits at once, for a stuck stop. */
function onShutdownSignal(io: { err(t: string): void }): {
  promise: Promise<NodeJS.Signals>;
  dispose(): void;
} {
  let seen = false;
  let resolve!: (s: NodeJS.Signals) => void;
  const promise = new Promise<NodeJS.Signals>((r) => {
    resolve = r;
  });
  const handler = (signal: NodeJS.Signals) => {
    if (seen) {
      io.err(`agentline: ${signal} again while stopping; exiting now\n`);
      process.exit(1);
    }
    seen = true;
    io.err(`agentline: ${signal} received; stopping\n`);
    resolve(signal);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return {
    promise,
    dispose: () => {
      process.off('SIGTERM', handler);
      process.off('SIGINT', handler);
    },
  };
}
