import { redeliverWebhooks } from '../webhooks/redeliver.js';
import { withAdminContext } from './admin-context.js';
import { parseFlags, required } from './args.js';
import { emit, showUsage, unknownAction } from './output.js';
import { type CliCommand, CliError } from './types.js';

const usage = `Usage:
  agentline webhooks redeliver --account ID [--call CALL_ID] [--json]

Sends an account's undelivered webhook events again, now: the dead ones (retry window over, or the
target was refused) get a new attempt, and the ones waiting for their next retry are moved to now.
Use it after a receiver outage is fixed, or after changing WEBHOOK_ALLOW_HTTP / WEBHOOK_ALLOW_PRIVATE.
A running server's deliverer sends them within WEBHOOK_POLL_MS; each keeps its eventId. --call limits
it to one call's events. The same is POST /v1/agent/webhooks/redeliver with the account's agent key.`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const webhooksCommand: CliCommand = {
  name: 'webhooks',
  summary: "redeliver an account's dead or waiting webhook events now",
  usage,
  async run(argv, io) {
    const [action, ...rest] = argv;
    if (action === '--help' || action === '-h') return showUsage(io, usage);
    if (action !== 'redeliver') throw unknownAction('webhooks', action, ['redeliver']);
    const flags = parseFlags(
      rest,
      { account: { type: 'string' }, call: { type: 'string' } },
      'webhooks redeliver',
    );
    if (flags.help) return showUsage(io, usage);
    const accountId = required(flags.account, 'account', 'webhooks redeliver');
    const callId = flags.call?.trim();
    if (callId !== undefined && !UUID.test(callId))
      throw new CliError(
        `webhooks redeliver: --call must be a call id (a UUID), not ${JSON.stringify(flags.call)}`,
        2,
      );
    const result = await withAdminContext(io.env, async (ctx) => {
      await ctx.requireAccount(accountId);
      return redeliverWebhooks(ctx.db, { accountId, callId, timeoutMs: ctx.config.WEBHOOK_TIMEOUT_MS });
    });
    emit(
      io,
      flags.json,
      { accountId, callId: callId ?? null, ...result },
      result.redelivered === 0
        ? 'nothing to redeliver: no dead or waiting webhook events (an attempt in flight is left to finish)'
        : `${result.redelivered} webhook event(s) due now (${result.dead} dead, ${result.pending} waiting for a retry)`,
    );
    return 0;
  },
};
