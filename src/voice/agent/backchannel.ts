// Short acknowledgements that show the callee is listening; said over the agent, they are not a request
// to take the floor. Spellings cover what common recognisers print for them.
const BACKCHANNEL_WORDS = new Set([
  'ok',
  'okay',
  'kay',
  'mm',
  'mhm',
  'mmhm',
  'hm',
  'hmm',
  'uh',
  'huh',
  'uhhuh',
  'um',
  'ah',
  'oh',
  'yeah',
  'yep',
  'yes',
  'yup',
  'right',
  'sure',
  'alright',
  'cool',
  'fine',
  'good',
  'great',
  'aha',
]);

/** Phrases that are backchannels only as a whole ("all right", "got it", "i see"). */
const BACKCHANNEL_PHRASES = [/^all right$/, /^got it$/, /^i see$/];

function normalize(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[-']/g, '')
    .replace(/[^a-z\s]/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

/**
 * Whether `text` (an STT partial or final) is only a backchannel such as "mm-hm", "okay", "uh-huh",
 * "yeah right". Empty text is not a backchannel: nothing is known yet.
 */
export function isBackchannel(text: string): boolean {
  const words = normalize(text);
  if (words.length === 0 || words.length > 3) return false;
  const joined = words.join(' ');
  if (BACKCHANNEL_PHRASES.some((re) => re.test(joined))) return true;
  return words.every((w) => BACKCHANNEL_WORDS.has(w));
}
