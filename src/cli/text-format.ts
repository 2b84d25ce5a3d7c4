// Human output of `holdfast`: aligned tables, times and durations. Pure string functions.

/** Columns padded to their widest cell, two spaces apart; a header row first. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

/** A time as local ISO-like text with seconds, e.g. 2026-11-26 01:02:03. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A duration in seconds as "1d 2h 3m 4s" (largest units only as needed). */
export function formatDuration(seconds: number): string {
  let s = Math.floor(seconds);
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  parts.push(`${s}s`);
  return parts.join(' ');
}

/** libvirt log priorities by number (shared with the daemon, which accepts these names back). */
export { PRIORITY_NAMES } from '../shared/platform/log-priority-names';
