/**
 * Splits text into sentence-sized pieces for synthesis: each native call stays short, and an abort
 * takes effect at the next piece. Pieces over `maxChars` are cut at the last space before it.
 */
export function splitForSynthesis(text: string, maxChars = 200): string[] {
  const clean = text.replace(/\s+/g, ' ').trim();
  if (!clean) return [];
  const sentences = clean.match(/[^.!?;:]+(?:[.!?;:]+|$)/g) ?? [clean];
  const out: string[] = [];
  for (const raw of sentences) {
    let s = raw.trim();
    while (s.length > maxChars) {
      const cut = s.lastIndexOf(' ', maxChars);
      const at = cut > 0 ? cut : maxChars;
      out.push(s.slice(0, at).trim());
      s = s.slice(at).trim();
    }
    if (s && /[\p{L}\p{N}]/u.test(s)) out.push(s);
  }
  return out;
}
