import { asc } from 'drizzle-orm';
import { accounts } from '../db/schema.js';
import { withAdminContext } from './admin-context.js';
import { parseFlags, required } from './args.js';
import { emit, showUsage, table, unknownAction } from './output.js';
import { type CliCommand, CliError } from './types.js';

const usage = `Usage:
  agentline accounts create --name NAME [--json]   create an account; prints its id
  agentline accounts list [--json]                 list every account

An account owns agent keys, caller-ID numbers, a webhook secret and its calls.`;

export const accountsCommand: CliCommand = {
  name: 'accounts',
  summary: 'create and list accounts',
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
        const rows = await withAdminContext(io.env, (ctx) =>
          ctx.db
            .select({ accountId: accounts.id, name: accounts.name, createdAt: accounts.createdAt })
            .from(accounts)
            .orderBy(asc(accounts.createdAt), asc(accounts.id)),
        );
        emit(
          io,
          flags.json,
          { accounts: rows },
          rows.length === 0
            ? "no accounts yet; create one with 'agentline accounts create --name NAME'"
            : table(
                ['ACCOUNT', 'NAME', 'CREATED'],
                rows.map((r) => [r.accountId, r.name, r.createdAt]),
              ),
        );
        return 0;
      }
      case '--help':
      case '-h':
      case 'help':
        return showUsage(io, usage);
      default:
        throw unknownAction('accounts', action, ['create', 'list']);
    }
  },
};
