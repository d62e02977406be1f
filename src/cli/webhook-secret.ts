import { withAdminContext } from './admin-context.js';
import { parseFlags, required } from './args.js';
import { emit, showUsage } from './output.js';
import { type CliCommand, CliError } from './types.js';

const usage = `Usage:
  agentline webhook-secret --account ID [--rotate] [--json]

Prints the account's webhook signing secret (whsec_...), which receivers use to check the
X-BYS-Signature header. --rotate replaces it first: deliveries signed from then on use the new
secret, so update your receivers at once.`;

export const webhookSecretCommand: CliCommand = {
  name: 'webhook-secret',
  summary: "show or rotate an account's webhook signing secret",
  usage,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      { account: { type: 'string' }, rotate: { type: 'boolean' } },
      'webhook-secret',
    );
    if (flags.help) return showUsage(io, usage);
    const accountId = required(flags.account, 'account', 'webhook-secret');
    const secret = await withAdminContext(io.env, async (ctx) => {
      await ctx.requireAccount(accountId);
      return ctx.accounts.webhookSecret(accountId, Boolean(flags.rotate));
    });
    // The row was there a moment ago; it can only vanish if someone deleted the account meanwhile.
    if (secret === null) throw new CliError(`webhook-secret: no account ${JSON.stringify(accountId)}`);
    emit(io, flags.json, { secret, rotated: Boolean(flags.rotate) }, secret);
    return 0;
  },
};
