import { KEY_PREFIX_LENGTH } from '../accounts/api-keys.js';
import { withAdminContext } from './admin-context.js';
import { parseFlags, required } from './args.js';
import { emit, showUsage, table, unknownAction } from './output.js';
import { type CliCommand, CliError } from './types.js';

const usage = `Usage:
  agentline keys create --account ID [--json]       mint an agent key (ak_...); it is shown this once
  agentline keys list --account ID [--json]         list an account's keys by prefix, with their state
  agentline keys revoke --key-prefix PREFIX [--json] revoke the live keys with this prefix (ak_ and 8 characters)

Clients send the key as "Authorization: Bearer ak_...". Only its hash is stored, so a lost key
cannot be shown again: mint a new one and revoke the old.`;

const PREFIX = new RegExp(`^ak_[A-Za-z0-9_-]{${KEY_PREFIX_LENGTH - 3}}$`);

export const keysCommand: CliCommand = {
  name: 'keys',
  summary: 'mint, list and revoke agent keys',
  usage,
  async run(argv, io) {
    const [action, ...rest] = argv;
    switch (action) {
      case 'create': {
        const flags = parseFlags(rest, { account: { type: 'string' } }, 'keys create');
        if (flags.help) return showUsage(io, usage);
        const accountId = required(flags.account, 'account', 'keys create');
        const minted = await withAdminContext(io.env, async (ctx) => {
          await ctx.requireAccount(accountId);
          return ctx.accounts.createApiKey(accountId);
        });
        emit(
          io,
          flags.json,
          { key: minted.key, prefix: minted.prefix, keyId: minted.keyId, accountId },
          `${minted.key}\n\nThis is the only time the key is shown; store it now. Its prefix is ${minted.prefix}.`,
        );
        return 0;
      }
      case 'list': {
        const flags = parseFlags(rest, { account: { type: 'string' } }, 'keys list');
        if (flags.help) return showUsage(io, usage);
        const accountId = required(flags.account, 'account', 'keys list');
        const keys = await withAdminContext(io.env, async (ctx) => {
          await ctx.requireAccount(accountId);
          const rows = await ctx.accounts.listApiKeys(accountId);
          return rows.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
        });
        emit(
          io,
          flags.json,
          { keys },
          keys.length === 0
            ? `account ${accountId} has no keys; mint one with 'agentline keys create --account ${accountId}'`
            : table(
                ['PREFIX', 'STATE', 'CREATED', 'LAST USED', 'REVOKED'],
                keys.map((k) => [
                  k.prefix,
                  k.revokedAt ? 'revoked' : 'live',
                  k.createdAt,
                  k.lastUsedAt,
                  k.revokedAt,
                ]),
              ),
        );
        return 0;
      }
      case 'revoke': {
        const flags = parseFlags(rest, { 'key-prefix': { type: 'string' } }, 'keys revoke');
        if (flags.help) return showUsage(io, usage);
        const prefix = required(flags['key-prefix'], 'key-prefix', 'keys revoke');
        if (!PREFIX.test(prefix)) {
          throw new CliError(
            `keys revoke: --key-prefix must be the ${KEY_PREFIX_LENGTH}-character prefix that 'keys list' shows (ak_ and 8 characters), not ${JSON.stringify(prefix.length > 16 ? `${prefix.slice(0, 14)}...` : prefix)}`,
            2,
          );
        }
        const revoked = await withAdminContext(io.env, (ctx) => ctx.accounts.revokeApiKeys(prefix));
        if (revoked === 0) {
          if (flags.json) emit(io, true, { revoked }, '');
          throw new CliError(`keys revoke: no live key has the prefix ${prefix}`);
        }
        emit(
          io,
          flags.json,
          { revoked },
          `revoked ${revoked} key${revoked === 1 ? '' : 's'} with the prefix ${prefix}`,
        );
        return 0;
      }
      case '--help':
      case '-h':
      case 'help':
        return showUsage(io, usage);
      default:
        throw unknownAction('keys', action, ['create', 'list', 'revoke']);
    }
  },
};
