import { eq } from 'drizzle-orm';
import { checkNumberFormat } from '../calls/guardrails.js';
import { phoneNumbers } from '../db/schema.js';
import { withAdminContext } from './admin-context.js';
import { parseFlags, required } from './args.js';
import { emit, showUsage, table, unknownAction } from './output.js';
import { type CliCommand, CliError } from './types.js';

const usage = `Usage:
  agentline numbers add --account ID --number E164 [--default] [--json]
      add a caller-ID number to the account; --default makes it the number calls use when they
      name no callerId (the account's first number becomes the default by itself)
  agentline numbers list --account ID [--json]

Numbers are strict E.164 (+ and 8-15 digits, no spaces), valid in their country's numbering plan,
and belong to one account only. Register only numbers your SIP trunk may present.`;

export const numbersCommand: CliCommand = {
  name: 'numbers',
  summary: "manage an account's caller-ID numbers",
  usage,
  async run(argv, io) {
    const [action, ...rest] = argv;
    switch (action) {
      case 'add': {
        const flags = parseFlags(
          rest,
          { account: { type: 'string' }, number: { type: 'string' }, default: { type: 'boolean' } },
          'numbers add',
        );
        if (flags.help) return showUsage(io, usage);
        const accountId = required(flags.account, 'account', 'numbers add');
        const number = required(flags.number, 'number', 'numbers add');
        const bad = checkNumberFormat(number, 'callerId');
        if (bad) throw new CliError(`numbers add: ${bad.message.replace(/^callerId /, '--number ')}`, 2);
        const result = await withAdminContext(io.env, async (ctx) => {
          await ctx.requireAccount(accountId);
          const [taken] = await ctx.db
            .select({ accountId: phoneNumbers.accountId })
            .from(phoneNumbers)
            .where(eq(phoneNumbers.number, number));
          if (taken) {
            throw new CliError(
              taken.accountId === accountId
                ? `numbers add: ${number} is already a number of account ${accountId}`
                : `numbers add: ${number} already belongs to another account`,
            );
          }
          const existing = await ctx.accounts.listNumbers(accountId);
          const isDefault = Boolean(flags.default) || existing.length === 0;
          try {
            await ctx.accounts.addNumber(accountId, number, isDefault);
          } catch (err) {
            // Another admin added the same number between the check and the insert.
            if (isUniqueViolation(err))
              throw new CliError(`numbers add: ${number} was just added by someone else`);
            throw err;
          }
          return { number, isDefault, accountId };
        });
        emit(
          io,
          flags.json,
          result,
          `added ${number} to account ${accountId}${result.isDefault ? ' as its default caller ID' : ''}`,
        );
        return 0;
      }
      case 'list': {
        const flags = parseFlags(rest, { account: { type: 'string' } }, 'numbers list');
        if (flags.help) return showUsage(io, usage);
        const accountId = required(flags.account, 'account', 'numbers list');
        const numbers = await withAdminContext(io.env, async (ctx) => {
          await ctx.requireAccount(accountId);
          const rows = await ctx.accounts.listNumbers(accountId);
          return rows.sort(
            (a, b) => Number(b.isDefault) - Number(a.isDefault) || a.number.localeCompare(b.number),
          );
        });
        emit(
          io,
          flags.json,
          { numbers },
          numbers.length === 0
            ? `account ${accountId} has no numbers; add one with 'agentline numbers add --account ${accountId} --number +1...'`
            : table(
                ['NUMBER', 'DEFAULT'],
                numbers.map((n) => [n.number, n.isDefault]),
              ),
        );
        return 0;
      }
      case '--help':
      case '-h':
      case 'help':
        return showUsage(io, usage);
      default:
        throw unknownAction('numbers', action, ['add', 'list']);
    }
  },
};

function isUniqueViolation(err: unknown): boolean {
  for (let e = err as { code?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === '23505') return true;
  }
  return false;
}
