import {
  createUser,
  issueSignInLink,
  listUsers,
  removeUserByEmail,
  SIGN_IN_LINK_TTL_MS,
  setInstanceAdmin,
  setUserDisabled,
  signInLinkUrl,
  UserError,
} from '../dashboard/auth/users.js';
import { withAdminContext } from './admin-context.js';
import { parseFlags, required } from './args.js';
import { emit, showUsage, table, unknownAction } from './output.js';
import { type CliCommand, CliError, type CliIo } from './types.js';

const usage = `Usage:
  agentline users create --account ID --email EMAIL [--role owner|viewer] [--admin] [--password-stdin] [--json]
                                      add a dashboard user; prints a one-time sign-in link, or with
                                      --password-stdin sets the password read from standard input
  agentline users list --account ID [--json]        list an account's users
  agentline users set-admin --email EMAIL [--off] [--json]
                                      make a user an instance admin (every account, caps), or not
  agentline users reset --email EMAIL [--json]      a new one-time sign-in link (lost link, forgotten password)
  agentline users remove --email EMAIL [--json]     delete a user and end its sessions
  agentline users disable --email EMAIL [--json]    refuse its sign-in and end its sessions (kept, for the record)
  agentline users enable --email EMAIL [--json]     let a disabled user sign in again

Users sign in to the dashboard at PUBLIC_BASE_URL. The role is owner (keys, numbers, webhook secret,
users) or viewer (calls only; the default). A link works once, for ${SIGN_IN_LINK_TTL_MS / 3_600_000} hours, and is shown only
here: it opens a "set your password" page. Only hashes of links and passwords are stored.`;

/** The password piped to --password-stdin: its first line, without the line break. */
async function readPasswordFromStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new CliError('users create: --password-stdin reads a piped password, not a terminal', 2);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    chunks.push(b);
    size += b.length;
    if (size > 64 * 1024) throw new CliError('users create: the password on standard input is too long');
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0];
}

/** A refusal of the user store as the operator's error (exit 1), or a usage error for a bad role. */
function asCliError(err: unknown, command: string): unknown {
  if (!(err instanceof UserError)) return err;
  return new CliError(`${command}: ${err.message}`, err.code === 'invalid_role' ? 2 : 1);
}

function baseUrlNote(io: CliIo, json: boolean | undefined, env: NodeJS.ProcessEnv): void {
  if (!env.PUBLIC_BASE_URL && !json) {
    io.err(
      'note: PUBLIC_BASE_URL is not set, so the link points at this machine; set it to the address people open the dashboard at.\n',
    );
  }
}

function linkText(email: string, url: string): string {
  const hours = SIGN_IN_LINK_TTL_MS / 3_600_000;
  return `Sign-in link for ${email} (works once, for ${hours} hours):\n\n  ${url}\n\nThis is the only time the link is shown; send it to ${email} privately.`;
}

export const usersCommand: CliCommand = {
  name: 'users',
  summary: 'add, list and remove dashboard users; sign-in links; instance admins',
  usage,
  async run(argv, io) {
    const [action, ...rest] = argv;
    switch (action) {
      case 'create': {
        const flags = parseFlags(
          rest,
          {
            account: { type: 'string' },
            email: { type: 'string' },
            role: { type: 'string' },
            admin: { type: 'boolean' },
            'password-stdin': { type: 'boolean' },
          },
          'users create',
        );
        if (flags.help) return showUsage(io, usage);
        const accountId = required(flags.account, 'account', 'users create');
        const email = required(flags.email, 'email', 'users create');
        const role = flags.role ?? 'viewer';
        if (role !== 'owner' && role !== 'viewer') {
          throw new CliError(`users create: --role must be owner or viewer, not ${JSON.stringify(role)}`, 2);
        }
        const password = flags['password-stdin'] ? await readPasswordFromStdin() : undefined;
        const result = await withAdminContext(io.env, async (ctx) => {
          await ctx.requireAccount(accountId);
          try {
            const created = await createUser(ctx.db, {
              accountId: accountId.trim(),
              email,
              role,
              instanceAdmin: flags.admin ?? false,
              password,
            });
            return {
              created,
              url: created.signInToken ? signInLinkUrl(ctx.config.publicBaseUrl, created.signInToken) : null,
              signInPage: `${ctx.config.publicBaseUrl}/sign-in`,
            };
          } catch (err) {
            throw asCliError(err, 'users create');
          }
        });
        const { created, url } = result;
        if (url) baseUrlNote(io, flags.json, io.env);
        emit(
          io,
          flags.json,
          {
            userId: created.id,
            accountId: created.accountId,
            email: created.email,
            role: created.role,
            instanceAdmin: created.instanceAdmin,
            signInUrl: url,
          },
          `created ${created.role} ${created.email}${created.instanceAdmin ? ' (instance admin)' : ''} in account ${created.accountId}\n\n${
            url ? linkText(created.email, url) : `They can sign in now at ${result.signInPage}`
          }`,
        );
        return 0;
      }
      case 'list': {
        const flags = parseFlags(rest, { account: { type: 'string' } }, 'users list');
        if (flags.help) return showUsage(io, usage);
        const accountId = required(flags.account, 'account', 'users list');
        const rows = await withAdminContext(io.env, async (ctx) => {
          await ctx.requireAccount(accountId);
          return listUsers(ctx.db, accountId.trim());
        });
        const now = new Date();
        const users = rows.map((u) => ({
          userId: u.id,
          email: u.email,
          role: u.role,
          instanceAdmin: u.instanceAdmin,
          hasPassword: u.hasPassword,
          locked: Boolean(u.lockedUntil && u.lockedUntil > now),
          disabled: u.disabledAt !== null,
          createdAt: u.createdAt,
          lastSignInAt: u.lastSignInAt,
        }));
        emit(
          io,
          flags.json,
          { users },
          users.length === 0
            ? `account ${accountId} has no users; add one with 'agentline users create --account ${accountId} --email EMAIL --role owner'`
            : table(
                ['EMAIL', 'ROLE', 'ADMIN', 'STATE', 'CREATED', 'LAST SIGN-IN'],
                users.map((u) => [
                  u.email,
                  u.role,
                  u.instanceAdmin,
                  u.disabled ? 'disabled' : u.locked ? 'locked' : u.hasPassword ? 'active' : 'invited',
                  u.createdAt,
                  u.lastSignInAt,
                ]),
              ),
        );
        return 0;
      }
      case 'set-admin': {
        const flags = parseFlags(
          rest,
          { email: { type: 'string' }, off: { type: 'boolean' } },
          'users set-admin',
        );
        if (flags.help) return showUsage(io, usage);
        const email = required(flags.email, 'email', 'users set-admin');
        const on = !flags.off;
        const user = await withAdminContext(io.env, async (ctx) => {
          try {
            return await setInstanceAdmin(ctx.db, email, on);
          } catch (err) {
            throw asCliError(err, 'users set-admin');
          }
        });
        emit(
          io,
          flags.json,
          { email: user.email, instanceAdmin: on },
          on ? `${user.email} is now an instance admin` : `${user.email} is no longer an instance admin`,
        );
        return 0;
      }
      case 'reset': {
        const flags = parseFlags(rest, { email: { type: 'string' } }, 'users reset');
        if (flags.help) return showUsage(io, usage);
        const email = required(flags.email, 'email', 'users reset');
        const { url, normalized } = await withAdminContext(io.env, async (ctx) => {
          try {
            const token = await issueSignInLink(ctx.db, email);
            return {
              url: signInLinkUrl(ctx.config.publicBaseUrl, token),
              normalized: email.trim().toLowerCase(),
            };
          } catch (err) {
            throw asCliError(err, 'users reset');
          }
        });
        baseUrlNote(io, flags.json, io.env);
        emit(io, flags.json, { email: normalized, signInUrl: url }, linkText(normalized, url));
        return 0;
      }
      case 'remove': {
        const flags = parseFlags(rest, { email: { type: 'string' } }, 'users remove');
        if (flags.help) return showUsage(io, usage);
        const email = required(flags.email, 'email', 'users remove');
        const { user, ownersLeft } = await withAdminContext(io.env, async (ctx) => {
          try {
            const removed = await removeUserByEmail(ctx.db, email);
            const left = await listUsers(ctx.db, removed.accountId);
            return { user: removed, ownersLeft: left.filter((u) => u.role === 'owner').length };
          } catch (err) {
            throw asCliError(err, 'users remove');
          }
        });
        // The operator may remove a last owner on purpose (someone left); the account is then run
        // from the CLI until a new owner is created.
        if (ownersLeft === 0) {
          io.err(
            `note: account ${user.accountId} has no owner now; add one with 'agentline users create --account ${user.accountId} --email EMAIL --role owner'\n`,
          );
        }
        emit(
          io,
          flags.json,
          { removed: user.email, userId: user.id, accountId: user.accountId, ownersLeft },
          `removed ${user.email}; its sessions have ended`,
        );
        return 0;
      }
      case 'disable':
      case 'enable': {
        const command = `users ${action}`;
        const flags = parseFlags(rest, { email: { type: 'string' } }, command);
        if (flags.help) return showUsage(io, usage);
        const email = required(flags.email, 'email', command);
        const disabled = action === 'disable';
        const user = await withAdminContext(io.env, async (ctx) => {
          try {
            return await setUserDisabled(ctx.db, email, disabled);
          } catch (err) {
            throw asCliError(err, command);
          }
        });
        emit(
          io,
          flags.json,
          { email: user.email, disabled },
          disabled
            ? `${user.email} is disabled: it cannot sign in and its sessions have ended`
            : `${user.email} may sign in again`,
        );
        return 0;
      }
      case '--help':
      case '-h':
      case 'help':
        return showUsage(io, usage);
      default:
        throw unknownAction('users', action, [
          'create',
          'list',
          'set-admin',
          'reset',
          'remove',
          'disable',
          'enable',
        ]);
    }
  },
};
