/**
 * Where to go after signing in: only a path on this site. Anything else (another origin, `//host`,
 * `/\\host`, a scheme, control characters) falls back to /calls, so the link cannot send anyone away.
 */
export function safeNextPath(next: string | null | undefined): string {
  if (!next || next.length > 2000 || !next.startsWith('/') || next.startsWith('//')) return '/calls';
  for (const ch of next) {
    const code = ch.charCodeAt(0);
    if (ch === '\\' || code < 0x20 || code === 0x7f) return '/calls';
  }
  try {
    const u = new URL(next, 'http://agentline.invalid');
    if (u.origin !== 'http://agentline.invalid') return '/calls';
    if (u.pathname.startsWith('/sign-in') || u.pathname === '/sign-out') return '/calls';
    return `${u.pathname}${u.search}${u.hash}`;
  } catch {
    return '/calls';
  }
}

/** The sign-in page, remembering where to come back to. */
export function signInPath(next: string): string {
  const safe = safeNextPath(next);
  return safe === '/calls' || safe === '/' ? '/sign-in' : `/sign-in?next=${encodeURIComponent(safe)}`;
}
