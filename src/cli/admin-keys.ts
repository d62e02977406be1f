import { ADMIN_KEY_PREFIX_LENGTH, ADMIN_KEY_PREFIX_PATTERN, AdminKeys } from '../accounts/admin-keys.js';
import { withAdminContext } from './admin-context.js';
import { parseFlags } from './args.js';
import { emit, showUsage, table, unknownAction } from './output.js';
import { type CliCommand, CliError } from './types.js';

const usage = `Usage:
  agentline admin-keys create [--label LABEL] [--json]  mint an instance admin key (adm_...); shown this once
  agentline admin-keys list [--json]                     list admin keys by prefix, with their state
  agentline admin-keys revoke PREFIX [--json]            revoke the live admin keys with this prefix (adm_ and 8 characters)

An admin key opens the admin API (/v1/admin/*: every account, caps, disable/enable, keys across
accounts) with "Authorization: Bearer adm_...". It opens nothing under /v1/agent. Only its hash is
stored; keys are minted and revoked only here, by someone with access to the deployment's database.`;

const MAX_LABEL = 200;

export const adminKeysCommand: CliCommand = {
  name: 'admin-keys',
  summary: 'mint, list and revoke instance admin keys for the admin API',
  usage,
  async run(argv, io) {
    const [action, ...rest] = argv;
    switch (action) {
      case 'create': {
        const flags = parseFlags(rest, { label: { type: 'string' } }, 'admin-keys create');
        if (flags.help) return showUsage(io, usage);
        const label = flags.label?.trim() || null;
        if (label && label.length > MAX_LABEL)
          throw new CliError(`admin-keys create: --label is longer than ${MAX_LABEL} characters`, 2);
        const minted = await withAdminContext(io.env, (ctx) => new AdminKeys(ctx.db).create(label));
        emit(
          io,
          flags.json,
          { key: minted.key, prefix: minted.prefix, keyId: minted.keyId, label },
          `${minted.key}\n\nThis is the only time the admin key is shown; store it now. Its prefix is ${minted.prefix}.`,
        );
        return 0;
      }
      case 'list': {
        const flags = parseFlags(rest, {}, 'admin-keys list');
        if (flags.help) return showUsage(io, usage);
        const keys = await withAdminContext(io.env, (ctx) => new AdminKeys(ctx.db).list());
        emit(
          io,
          flags.json,
          { keys },
          keys.length === 0
            ? "no admin keys; mint one with 'agentline admin-keys create --label NAME'"
            : table(
                ['PREFIX', 'STATE', 'LABEL', 'CREATED', 'LAST USED', 'REVOKED'],
                keys.map((k) => [
                  k.prefix,
                  k.revokedAt ? 'revoked' : 'live',
                  k.label,
                  k.createdAt,
                  k.lastUsedAt,
                  k.revokedAt,
                ]),
              ),
        );
        return 0;
      }
      case 'revoke': {
        const positional = rest[0] !== undefined && !rest[0].startsWith('-');
        const prefix = positional ? rest[0] : undefined;
        const flags = parseFlags(positional ? rest.slice(1) : rest, {}, 'admin-keys revoke');
        if (flags.help) return showUsage(io, usage);
        if (!prefix) throw new CliError('admin-keys revoke: missing PREFIX (see admin-keys list)', 2);
        if (!ADMIN_KEY_PREFIX_PATTERN.test(prefix)) {
          throw new CliError(
            `admin-keys revoke: PREFIX must be the ${ADMIN_KEY_PREFIX_LENGTH}-character prefix that 'admin-keys list' shows (adm_ and 8 characters)`,
            2,
          );
        }
        const revoked = await withAdminContext(io.env, (ctx) => new AdminKeys(ctx.db).revoke(prefix));
        if (revoked === 0) {
          if (flags.json) emit(io, true, { revoked }, '');
          throw new CliError(`admin-keys revoke: no live admin key has the prefix ${prefix}`);
        }
        emit(
          io,
          flags.json,
          { revoked },
          `revoked ${revoked} admin key${revoked === 1 ? '' : 's'} with the prefix ${prefix}`,
        );
        return 0;
      }
      case '--help':
      case '-h':
      case 'help':
        return showUsage(io, usage);
      default:
        throw unknownAction('admin-keys', action, ['create', 'list', 'revoke']);
    }
  },
};
