import {
  AccountAdmin,
  type AdminAccountView,
  CAP_FIELDS,
  type CapsPatch,
  MAX_DISABLED_REASON,
  parseCapText,
} from '../accounts/account-admin.js';
import { CallStore } from '../calls/call-store.js';
import { type AdminContext, withAdminContext } from './admin-context.js';
import { parseFlags, required } from './args.js';
import { emit, showUsage, table, unknownAction } from './output.js';
import { type CliCommand, CliError } from './types.js';

const usage = `Usage:
  agentline accounts create --name NAME [--json]   create an account; prints its id
  agentline accounts list [--json]                 list every account with its caps, usage and state
  agentline accounts caps --account ID [--calls-per-minute N|default] [--concurrent N|default]
                          [--calls-per-day N|default] [--minutes-per-month N|default] [--json]
                                                   set an account's caps (0 blocks new calls); "default"
                                                   goes back to the deployment's CAP_* setting
  agentline accounts disable --account ID --reason TEXT [--json]
                                                   its keys stop working, its queued calls fail
                                                   (account_disabled); live calls are left to finish
  agentline accounts enable --account ID [--json]  its keys work again

An account owns agent keys, caller-ID numbers, a webhook secret and its calls.`;

/** The admin service over the CLI's database; the same one the admin API and pages use. */
export const adminOf = (ctx: AdminContext) =>
  new AccountAdmin({
    db: ctx.db,
    config: ctx.config,
    calls: new CallStore(ctx.db, ctx.config.publicBaseUrl),
  });

const capCell = (a: AdminAccountView, used: number, name: keyof AdminAccountView['caps']) =>
  `${used}/${a.caps[name]}${a.capOverrides[name] === null ? '' : '*'}`;

function capsTable(a: AdminAccountView): string {
  return table(
    ['CAP', 'VALUE', 'SOURCE'],
    CAP_FIELDS.map((c) => [
      c.flag,
      a.caps[c.name],
      a.capOverrides[c.name] === null ? `default (${c.setting})` : 'this account',
    ]),
  );
}

export const accountsCommand: CliCommand = {
  name: 'accounts',
  summary: 'create and list accounts; set caps, disable and enable them',
  usage,
  async run(argv, io) {
    const [action, ...rest] = argv;
    switch (action) {
      case 'create': {
        const flags = parseFlags(rest, { name: { type: 'string' } }, 'accounts create');
        if (flags.help) return showUsage(io, usage);
        const name = required(flags.name, 'name', 'accounts create');
        if (name.length > 200) throw new CliError('accounts create: --name is longer than 200 characters', 2);
        const { accountId } = await withAdminContext(io.env, (ctx) => ctx.accounts.createAccount(name));
        emit(io, flags.json, { accountId, name }, `created account ${accountId} (${name})`);
        return 0;
      }
      case 'list': {
        const flags = parseFlags(rest, {}, 'accounts list');
        if (flags.help) return showUsage(io, usage);
        const rows = await withAdminContext(io.env, (ctx) => adminOf(ctx).listAccounts());
        emit(
          io,
          flags.json,
          { accounts: rows },
          rows.length === 0
            ? "no accounts yet; create one with 'agentline accounts create --name NAME'"
            : `${table(
                ['ACCOUNT', 'NAME', 'STATE', 'CALLS TODAY', 'MINUTES THIS MONTH', 'ACTIVE', 'CREATED'],
                rows.map((r) => [
                  r.accountId,
                  r.name,
                  r.disabled ? `disabled: ${r.disabledReason ?? ''}` : 'enabled',
                  capCell(r, r.usage.callsToday, 'callsPerDay'),
                  capCell(r, r.usage.minutesThisMonth, 'minutesPerMonth'),
                  capCell(r, r.usage.activeCalls, 'concurrentCalls'),
                  r.createdAt,
                ]),
              )}\n\nused/cap; * marks a cap set for the account, the others are the deployment's defaults.`,
        );
        return 0;
      }
      case 'caps': {
        const flags = parseFlags(
          rest,
          {
            account: { type: 'string' },
            'calls-per-minute': { type: 'string' },
            concurrent: { type: 'string' },
            'calls-per-day': { type: 'string' },
            'minutes-per-month': { type: 'string' },
          },
          'accounts caps',
        );
        if (flags.help) return showUsage(io, usage);
        const accountId = required(flags.account, 'account', 'accounts caps');
        const patch: CapsPatch = {};
        for (const cap of CAP_FIELDS) {
          const text = flags[cap.flag];
          if (text === undefined) continue;
          const parsed = parseCapText(cap.name, text);
          if ('problem' in parsed) throw new CliError(`accounts caps: --${cap.flag} ${parsed.problem}`, 2);
          patch[cap.name] = parsed.value;
        }
        if (Object.keys(patch).length === 0) {
          throw new CliError(
            `accounts caps: give at least one of ${CAP_FIELDS.map((c) => `--${c.flag}`).join(', ')}`,
            2,
          );
        }
        const account = await withAdminContext(io.env, async (ctx) => {
          await ctx.requireAccount(accountId);
          return adminOf(ctx).setCaps(accountId, patch);
        });
        emit(
          io,
          flags.json,
          { account },
          `caps of ${account.accountId} (${account.name}):\n${capsTable(account)}`,
        );
        return 0;
      }
      case 'disable': {
        const flags = parseFlags(
          rest,
          { account: { type: 'string' }, reason: { type: 'string' } },
          'accounts disable',
        );
        if (flags.help) return showUsage(io, usage);
        const accountId = required(flags.account, 'account', 'accounts disable');
        const reason = required(flags.reason, 'reason', 'accounts disable');
        if (reason.length > MAX_DISABLED_REASON)
          throw new CliError(
            `accounts disable: --reason is longer than ${MAX_DISABLED_REASON} characters`,
            2,
          );
        const res = await withAdminContext(io.env, async (ctx) => {
          await ctx.requireAccount(accountId);
          return adminOf(ctx).disable(accountId, reason);
        });
        const live = res.account.usage.liveCalls;
        emit(
          io,
          flags.json,
          res,
          `disabled account ${res.account.accountId} (${res.account.name}): its keys stop working; ${res.failedQueuedCalls} queued call${res.failedQueuedCalls === 1 ? '' : 's'} failed (account_disabled)${live > 0 ? `; ${live} live call${live === 1 ? ' is' : 's are'} left to finish` : ''}`,
        );
        return 0;
      }
      case 'enable': {
        const flags = parseFlags(rest, { account: { type: 'string' } }, 'accounts enable');
        if (flags.help) return showUsage(io, usage);
        const accountId = required(flags.account, 'account', 'accounts enable');
        const account = await withAdminContext(io.env, async (ctx) => {
          await ctx.requireAccount(accountId);
          return adminOf(ctx).enable(accountId);
        });
        emit(
          io,
          flags.json,
          { account },
          `enabled account ${account.accountId} (${account.name}): its unrevoked keys work again`,
        );
        return 0;
      }
      case '--help':
      case '-h':
      case 'help':
        return showUsage(io, usage);
      default:
        throw unknownAction('accounts', action, ['create', 'list', 'caps', 'disable', 'enable']);
    }
  },
};
