/** How the calls pages print times, durations and statuses (UTC, so every operator reads the same clock). */

export function formatDateTime(d: Date | string | null | undefined): string {
  if (!d) return '—';
  const iso = typeof d === 'string' ? d : d.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

export function formatClock(d: Date | string): string {
  const iso = typeof d === 'string' ? d : d.toISOString();
  return iso.slice(11, 19);
}

/** 75 → "1:15"; 3725 → "1:02:05". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** A moment of the call from its answer, in ms: 3210 → "0:03.2". */
export function formatOffset(ms: number): string {
  const tenths = Math.max(0, Math.round(ms / 100));
  const m = Math.floor(tenths / 600);
  const s = ((tenths % 600) / 10).toFixed(1).padStart(4, '0');
  return `${m}:${s}`;
}

/** Seconds between two times, or null when either is missing. */
export function secondsBetween(a: Date | null | undefined, b: Date | null | undefined): number | null {
  return a && b ? Math.max(0, Math.round((b.getTime() - a.getTime()) / 1000)) : null;
}

export function statusLabel(status: string): string {
  return status.replace(/_/g, ' ');
}
