// The names of libvirt's four log priorities, as `holdfast log-level` prints them and accepts them back.
// Only these four exist at run time: the level outlives swaps and upgrades as a priority 1..4, so pino's
// extra levels (trace, fatal, silent) would be shown as another one; they are refused instead.
import type { LibvirtPriority } from './log-spec';

/** What `holdfast` prints for each priority. */
export const PRIORITY_NAMES: Readonly<Record<LibvirtPriority, string>> = { 1: 'debug', 2: 'info', 3: 'warning', 4: 'error' };

// Every spelling accepted: the printed names, pino's `warn`, and the numbers.
const ACCEPTED: ReadonlyMap<string, LibvirtPriority> = new Map<string, LibvirtPriority>([
  ['1', 1], ['debug', 1],
  ['2', 2], ['info', 2],
  ['3', 3], ['warning', 3], ['warn', 3],
  ['4', 4], ['error', 4],
]);

/** The accepted forms, for messages. */
export const ACCEPTED_PRIORITY_TEXT = '1..4 or debug, info, warning (warn), error';

/** A priority by number or name (any case), or null when `text` is none of them. */
export function parsePriorityName(text: string): LibvirtPriority | null {
  return ACCEPTED.get(text.trim().toLowerCase()) ?? null;
}
