import fs from 'node:fs';
import { accountsCommand } from './cli/accounts.js';
import { adminKeysCommand } from './cli/admin-keys.js';
import { dncCommand } from './cli/dnc.js';
import { keysCommand } from './cli/keys.js';
import { mcpCommand } from './cli/mcp.js';
import { modelsCommand } from './cli/models.js';
import { numbersCommand } from './cli/numbers.js';
import { runCli } from './cli/run-cli.js';
import { serveCommand } from './cli/serve.js';
import type { CliCommand } from './cli/types.js';
import { usersCommand } from './cli/users.js';
import { webhookSecretCommand } from './cli/webhook-secret.js';
import { webhooksCommand } from './cli/webhooks.js';
import { restrictUmask } from './private-files.js';

/**
 * Every `agentline <command>`, in the order `--help` lists them. To add one, write a module in
 * src/cli/ that exports a CliCommand, import it above and add it here.
 */
const commands: readonly CliCommand[] = [
  serveCommand,
  accountsCommand,
  usersCommand,
  keysCommand,
  adminKeysCommand,
  numbersCommand,
  dncCommand,
  webhookSecretCommand,
  webhooksCommand,
  modelsCommand,
  mcpCommand,
];

// Whatever a command writes under DATA_DIR (the embedded database, secret.key, recordings) is private.
restrictUmask();

const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const code = await runCli(
  process.argv.slice(2),
  commands,
  {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    env: process.env,
  },
  pkg.version,
);
process.exitCode = code;
// Everything is closed by now, so the process ends by itself; this unref'd timer only fires if some
// library left a handle open, so a finished command never hangs a script.
setTimeout(() => process.exit(code), 3000).unref();
