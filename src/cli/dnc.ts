import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { DeploymentDncList } from '../dnc/deployment-list.js';
import {
  DNC_LIST_DEFAULT,
  DNC_LIST_MAX,
  type DncAddResult,
  type DncInvalid,
  DoNotCallService,
} from '../dnc/do-not-call.js';
import { DncError } from '../dnc/errors.js';
import { normaliseNumber } from '../dnc/numbers.js';
import { type AdminContext, withAdminContext } from './admin-context.js';
import { required } from './args.js';
import { emit, showUsage, table, unknownAction } from './output.js';
import { type CliCommand, CliError, type CliIo } from './types.js';

const usage = `Usage:
  agentline dnc add --account ID NUMBER... [--note TEXT] [--json]
                                      put numbers on the account's do-not-call list
  agentline dnc remove --account ID NUMBER [--json]
                                      take a number off the account's list
  agentline dnc list --account ID [--limit N] [--cursor C] [--json]
                                      the account's list, newest first (N: 1-${DNC_LIST_MAX}, default ${DNC_LIST_DEFAULT})
  agentline dnc check --account ID NUMBER [--json]
                                      whether a call to NUMBER would be refused, and by which list
  agentline dnc import --account ID FILE.csv [--note TEXT] [--json]
                                      add every number of a CSV file: a header row with a column
                                      'number', or no header and the number in the first column

Numbers are E.164 (+14155552671; spaces and dashes are removed). A call to a listed number is refused
(422 destination_blocked) and a queued call to it never dials. The deployment-wide list is the file
DNC_LIST_FILE (one number a line), kept by the operator: 'check' and 'remove' consult it, nothing here
changes it. Invalid numbers are reported and not stored; the exit status is then 1 only if nothing
could be stored.`;

type Flags = {
  account?: string;
  note?: string;
  limit?: string;
  cursor?: string;
  json?: boolean;
  help?: boolean;
};

function parse(
  argv: string[],
  command: string,
  allowed: readonly ('note' | 'limit' | 'cursor')[],
): { flags: Flags; positionals: string[] } {
  const options = {
    account: { type: 'string' as const },
    json: { type: 'boolean' as const },
    help: { type: 'boolean' as const, short: 'h' },
    ...Object.fromEntries(allowed.map((k) => [k, { type: 'string' as const }])),
  };
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
    return { flags: values as Flags, positionals };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const quoted = /'([^']+)'/.exec(e.message)?.[1];
    const what =
      e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
        ? `unknown option ${quoted ?? e.message}`
        : e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE'
          ? `${quoted?.replace(' <value>', '') ?? e.message} needs a value`
          : e.message;
    throw new CliError(`${command}: ${what}`, 2);
  }
}

function exactlyOne(positionals: string[], command: string, what: string): string {
  if (positionals.length === 0) throw new CliError(`${command}: missing ${what}`, 2);
  if (positionals.length > 1) throw new CliError(`${command}: unexpected argument ${positionals[1]}`, 2);
  return positionals[0];
}

/** A number as the operator typed it, in E.164 when it is a valid one (the service refuses the rest). */
function typed(value: string): string {
  const n = normaliseNumber(value);
  return n.ok ? n.number : value.trim();
}

/** Runs `fn` with the service over the deployment's database and its DNC_LIST_FILE, if set. */
async function withService<T>(
  io: CliIo,
  accountId: string,
  fn: (service: DoNotCallService, ctx: AdminContext) => Promise<T>,
): Promise<T> {
  return withAdminContext(io.env, async (ctx) => {
    await ctx.requireAccount(accountId);
    const list = ctx.config.DNC_LIST_FILE
      ? await DeploymentDncList.open(ctx.config.DNC_LIST_FILE, { pollMs: 3_600_000 })
      : null;
    try {
      return await fn(new DoNotCallService(ctx.db, list), ctx);
    } finally {
      list?.close();
    }
  });
}

function asCliError(err: unknown, command: string): unknown {
  if (!(err instanceof DncError)) return err;
  return new CliError(`${command}: ${err.message}`, err.code === 'invalid_request' ? 2 : 1);
}

function invalidLines(invalid: DncInvalid[], total: number): string {
  const lines = invalid.map((i) => {
    const where = i.line !== undefined ? `line ${i.line}: ` : '';
    return `  ${where}${JSON.stringify(i.value)}: ${i.message}`;
  });
  if (total > invalid.length) lines.push(`  (and ${total - invalid.length} more)`);
  return lines.join('\n');
}

/** Prints an add or import; exit 1 when values were given and none of them could be stored. */
function reportAdd(io: CliIo, json: boolean | undefined, accountId: string, r: DncAddResult): number {
  const human = [
    `account ${accountId}: ${r.added} added, ${r.alreadyListed} already listed${r.invalidCount > 0 ? `, ${r.invalidCount} invalid (not stored)` : ''}`,
  ];
  if (r.invalidCount > 0 && !json) io.err(`invalid:\n${invalidLines(r.invalid, r.invalidCount)}\n`);
  emit(io, json, { accountId, ...r }, human.join('\n'));
  return r.added + r.alreadyListed === 0 && r.invalidCount > 0 ? 1 : 0;
}

export const dncCommand: CliCommand = {
  name: 'dnc',
  summary: "add, remove, list, check and import numbers of an account's do-not-call list",
  usage,
  async run(argv, io) {
    const [action, ...rest] = argv;
    const command = `dnc ${action}`;
    switch (action) {
      case 'add': {
        const { flags, positionals } = parse(rest, command, ['note']);
        if (flags.help) return showUsage(io, usage);
        const accountId = required(flags.account, 'account', command);
        if (positionals.length === 0) throw new CliError(`${command}: missing NUMBER`, 2);
        const result = await withService(io, accountId, (s) =>
          s.add(accountId, positionals, 'cli', { note: flags.note ?? null }),
        );
        return reportAdd(io, flags.json, accountId, result);
      }
      case 'import': {
        const { flags, positionals } = parse(rest, command, ['note']);
        if (flags.help) return showUsage(io, usage);
        const accountId = required(flags.account, 'account', command);
        const file = exactlyOne(positionals, command, 'FILE.csv');
        let text: string;
        try {
          text = fs.readFileSync(file, 'utf8');
        } catch (err) {
          throw new CliError(`${command}: cannot read ${file}: ${(err as Error).message}`);
        }
        const result = await withService(io, accountId, (s) =>
          s.importCsv(accountId, text, 'import', { note: flags.note ?? null }),
        );
        if (result.added + result.alreadyListed + result.invalidCount === 0) {
          throw new CliError(`${command}: ${file} has no line with a number`);
        }
        return reportAdd(io, flags.json, accountId, result);
      }
      case 'remove': {
        const { flags, positionals } = parse(rest, command, []);
        if (flags.help) return showUsage(io, usage);
        const accountId = required(flags.account, 'account', command);
        const number = typed(exactlyOne(positionals, command, 'NUMBER'));
        await withService(io, accountId, async (s) => {
          try {
            await s.remove(accountId, number);
          } catch (err) {
            throw asCliError(err, command);
          }
        });
        emit(
          io,
          flags.json,
          { accountId, removed: number },
          `removed ${number} from account ${accountId}'s do-not-call list`,
        );
        return 0;
      }
      case 'check': {
        const { flags, positionals } = parse(rest, command, []);
        if (flags.help) return showUsage(io, usage);
        const accountId = required(flags.account, 'account', command);
        const number = typed(exactlyOne(positionals, command, 'NUMBER'));
        const c = await withService(io, accountId, async (s) => {
          try {
            return await s.check(accountId, number);
          } catch (err) {
            throw asCliError(err, command);
          }
        });
        const human =
          c.list === 'account'
            ? `${c.number} is on account ${accountId}'s do-not-call list (source ${c.source}, since ${c.createdAt}${c.note ? `, note: ${c.note}` : ''})`
            : c.list === 'deployment'
              ? `${c.number} is on the deployment's do-not-call list (DNC_LIST_FILE)`
              : `${c.number} is not on a do-not-call list`;
        emit(io, flags.json, { accountId, ...c }, human);
        return 0;
      }
      case 'list': {
        const { flags, positionals } = parse(rest, command, ['limit', 'cursor']);
        if (flags.help) return showUsage(io, usage);
        const accountId = required(flags.account, 'account', command);
        if (positionals.length > 0)
          throw new CliError(`${command}: unexpected argument ${positionals[0]}`, 2);
        const limit = flags.limit === undefined ? DNC_LIST_DEFAULT : Number(flags.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > DNC_LIST_MAX) {
          throw new CliError(`${command}: --limit must be an integer from 1 to ${DNC_LIST_MAX}`, 2);
        }
        const page = await withService(io, accountId, async (s) => {
          try {
            return await s.list(accountId, { limit, cursor: flags.cursor ?? null });
          } catch (err) {
            throw asCliError(err, command);
          }
        });
        if (page.nextCursor && !flags.json) {
          io.err(
            `more: agentline dnc list --account ${accountId} --limit ${limit} --cursor ${page.nextCursor}\n`,
          );
        }
        emit(
          io,
          flags.json,
          { accountId, ...page },
          page.numbers.length === 0
            ? `account ${accountId} has no numbers on its do-not-call list`
            : table(
                ['NUMBER', 'SOURCE', 'CREATED', 'CALL', 'NOTE'],
                page.numbers.map((e) => [e.number, e.source, e.createdAt, e.callId, e.note]),
              ),
        );
        return 0;
      }
      case '--help':
      case '-h':
      case 'help':
        return showUsage(io, usage);
      default:
        throw unknownAction('dnc', action, ['add', 'remove', 'list', 'check', 'import']);
    }
  },
};
