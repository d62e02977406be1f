/**
 * Reading what a callee heard: words, counts and times of day, written to tolerate the usual
 * pocketsphinx confusions ("for" for "four", "to" for "two", "p m" for "pm").
 */

const UNITS: Record<string, number> = {
  zero: 0,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
  thirteen: 13,
  fourteen: 14,
  fifteen: 15,
  sixteen: 16,
  seventeen: 17,
  eighteen: 18,
  nineteen: 19,
  twenty: 20,
  couple: 2,
};
/** Homophones the recogniser often writes instead of a number; trusted only when no real number is heard. */
const SOUNDALIKES: Record<string, number> = {
  for: 4,
  to: 2,
  too: 2,
  won: 1,
  ate: 8,
  tree: 3,
  sex: 6,
  fife: 5,
};

export function words(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9:' ]+/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

export function hasKeyword(text: string, keywords: readonly string[]): boolean {
  const hay = ` ${words(text).join(' ')} `;
  return keywords.some((k) => hay.includes(` ${words(k).join(' ')} `));
}

function numberAt(ws: string[], i: number, soundalikes: boolean): number | null {
  const w = ws[i];
  if (/^\d{1,3}$/.test(w)) return Number(w);
  if (w in UNITS) return UNITS[w];
  if (soundalikes && w in SOUNDALIKES) return SOUNDALIKES[w];
  return null;
}

/** The first count heard ("four people", "a table for 6"), or null. */
export function findNumber(text: string): number | null {
  const ws = words(text);
  for (const soundalikes of [false, true]) {
    for (let i = 0; i < ws.length; i++) {
      const n = numberAt(ws, i, soundalikes);
      if (n !== null && n > 0) return n;
    }
  }
  return null;
}

const MINUTES: Record<string, number> = {
  fifteen: 15,
  thirty: 30,
  'forty five': 45,
  'forty-five': 45,
  half: 30,
};

/** A time of day such as "seven thirty pm", "8 o'clock", "7:30", normalised to "7:30 pm" / "8 pm" / "7". */
export function findTime(text: string): string | null {
  const ws = words(text);
  for (let i = 0; i < ws.length; i++) {
    const digital = /^(\d{1,2}):(\d{2})$/.exec(ws[i]);
    let hour: number | null = null;
    let minute = 0;
    let j = i + 1;
    if (digital) {
      hour = Number(digital[1]);
      minute = Number(digital[2]);
    } else {
      hour = numberAt(ws, i, false);
      if (hour !== null && j < ws.length) {
        const two = `${ws[j]} ${ws[j + 1] ?? ''}`;
        if (two in MINUTES) {
          minute = MINUTES[two];
          j += 2;
        } else if (ws[j] in MINUTES) {
          minute = MINUTES[ws[j]];
          j += 1;
        } else if (ws[j] === "o'clock" || ws[j] === 'oclock') {
          j += 1;
        }
      }
    }
    if (hour === null || hour < 1 || hour > 23 || minute > 59) continue;
    let suffix = '';
    const rest = ws.slice(j, j + 3).join(' ');
    if (/^(pm|p m|p\.m|in the evening|tonight|this evening)/.test(rest)) suffix = ' pm';
    else if (/^(am|a m|in the morning)/.test(rest)) suffix = ' am';
    return `${hour}${minute ? `:${String(minute).padStart(2, '0')}` : ''}${suffix}`;
  }
  return null;
}
