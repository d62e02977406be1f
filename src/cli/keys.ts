import { KEY_PREFIX_LENGTH } from '../accounts/api-keys.js';
import { adminOf } from './accounts.js';
import { withAdminContext } from './admin-context.js';
import { parseFlags, required } from './args.js';
import { emit, showUsage, table, unknownAction } from './output.js';
import { type CliCommand, CliError } from './types.js';

const usage = `Usage:
  agentline keys create --account ID [--json]       mint an agent key (ak_...); it is shown this once
  agentline keys list --account ID [--json]         list an account's keys by prefix, with their state
  agentline keys list --all [--json]                list the keys of every account
  agentline keys revoke --key-prefix PREFIX [--json] revoke the live keys with this prefix (ak_ and 8 characters)
  agentline keys revoke PREFIX|KEY-ID [--json]      the same by prefix, or one key by the id 'keys list --json' shows

Clients send the key as "Authorization: Bearer ak_...". Only its hash is stored, so a lost key
cannot be shown again: mint a new one and revoke the old.`;

const PREFIX = new RegExp(`^ak_[A-Za-z0-9_-]{${KEY_PREFIX_LENGTH - 3}}$`);
const KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
        const flags = parseFlags(
          rest,
          { account: { type: 'string' }, all: { type: 'boolean' } },
          'keys list',
        );
        if (flags.help) return showUsage(io, usage);
        if (Boolean(flags.all) === (flags.account !== undefined))
          throw new CliError('keys list: give either --account ID or --all', 2);
        const accountId = flags.all ? undefined : required(flags.account, 'account', 'keys list');
        const keys = await withAdminContext(io.env, async (ctx) => {
          if (accountId) await ctx.requireAccount(accountId);
          return adminOf(ctx).listKeys(accountId ? { accountId } : {});
        });
        emit(
          io,
          flags.json,
          { keys },
          keys.length === 0
            ? accountId
              ? `account ${accountId} has no keys; mint one with 'agentline keys create --account ${accountId}'`
              : 'no account has keys yet'
            : table(
                [
                  'PREFIX',
                  'STATE',
                  'CREATED',
                  'LAST USED',
                  'REVOKED',
                  ...(accountId ? [] : ['ACCOUNT', 'NAME']),
                ],
                keys.map((k) => [
                  k.prefix,
                  k.revokedAt ? 'revoked' : 'live',
                  k.createdAt,
                  k.lastUsedAt,
                  k.revokedAt,
                  ...(accountId ? [] : [k.accountId, k.accountName]),
                ]),
              ),
        );
        return 0;
      }
      case 'revoke': {
        const positional = rest[0] !== undefined && !rest[0].startsWith('-') ? rest[0] : undefined;
        const flags = parseFlags(
          positional ? rest.slice(1) : rest,
          { 'key-prefix': { type: 'string' } },
          'keys revoke',
        );
        if (flags.help) return showUsage(io, usage);
        if (positional && flags['key-prefix'] !== undefined)
          throw new CliError('keys revoke: give the prefix or id once, not also --key-prefix', 2);
        if (positional && KEY_ID.test(positional)) {
          const res = await withAdminContext(io.env, (ctx) => adminOf(ctx).revokeKey(positional));
          if (!res.revokedNow) {
            if (flags.json) emit(io, true, { revoked: 0 }, '');
            throw new CliError(`keys revoke: key ${positional} (${res.key.prefix}) was already revoked`);
          }
          emit(io, flags.json, { revoked: 1 }, `revoked key ${positional} (${res.key.prefix})`);
          return 0;
        }
        const prefix = positional ?? required(flags['key-prefix'], 'key-prefix', 'keys revoke');
        if (!PREFIX.test(prefix)) {
          throw new CliError(
            `keys revoke: ${positional ? 'the key' : '--key-prefix'} must be the ${KEY_PREFIX_LENGTH}-character prefix that 'keys list' shows (ak_ and 8 characters)${positional ? ' or a key id' : ''}, not ${JSON.stringify(prefix.length > 16 ? `${prefix.slice(0, 14)}...` : prefix)}`,
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
