/**
 * The part of a clause the callee actually heard when its playback was cut after `playedMs` of
 * `totalMs`: words in proportion to the time played (speech rate is roughly even within one clause).
 * A word counts as heard once more than half of it went out.
 */
export function spokenPrefix(text: string, playedMs: number, totalMs: number): string {
  const words = text.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0 || totalMs <= 0 || playedMs <= 0) return '';
  const fraction = Math.min(1, playedMs / totalMs);
  if (fraction >= 1) return words.join(' ');
  const heard = Math.floor(fraction * words.length + 0.5);
  return words.slice(0, heard).join(' ');
}
