// Parsers for virtlockd's log_outputs and log_filters strings (libvirt's virlog syntax).
// Syntax only; log.ts decides what each parsed output and filter does in pino.
//
// Facts (virlog.c virLogParseOutput / virLogParseFilter / virLogFilterNew, libvirt 9.0):
// - entries are separated by single spaces; empty entries are skipped (a tab is not a separator);
// - an output is "P:stderr" | "P:journald" | "P:file:PATH" | "P:syslog:IDENT", exactly that many ':' fields,
//   so a file path cannot contain ':'; a relative PATH is made absolute against the cwd;
//   a later output with the same destination (and path/ident) replaces the earlier one;
// - a filter is "P:match" (fields after a second ':' are ignored); a leading '+' on match is dropped;
//   match is a glob with * and ?, implicitly "*match*"; the first matching filter wins;
// - P is 1 debug, 2 info, 3 warning, 4 error.

import path from 'node:path';

/** libvirt log priority: 1 debug, 2 info, 3 warning, 4 error. */
export type LibvirtPriority = 1 | 2 | 3 | 4;

/** One parsed log output. */
export type LogOutputSpec =
  | { priority: LibvirtPriority; destination: 'stderr' | 'journald' }
  | { priority: LibvirtPriority; destination: 'file'; path: string }
  | { priority: LibvirtPriority; destination: 'syslog'; ident: string };

/** One parsed log filter. */
export interface LogFilterSpec {
  priority: LibvirtPriority;
  /** The match string as written, without a leading '+'. */
  match: string;
}

/** Thrown for a malformed log_outputs / log_filters string; the message names the bad entry. */
export class LogSpecError extends Error {
  override readonly name = 'LogSpecError';
}

function parsePriority(text: string, entry: string): LibvirtPriority {
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 4)) throw new LogSpecError(`invalid priority '${text}' in '${entry}' (expected 1 to 4)`);
  return n as LibvirtPriority;
}

const entriesOf = (spec: string): string[] => spec.split(' ').filter((e) => e !== '');

/**
 * Parses a log_outputs string.
 * @throws LogSpecError on the first malformed output
 */
export function parseLogOutputs(spec: string): LogOutputSpec[] {
  const outputs: LogOutputSpec[] = [];
  for (const entry of entriesOf(spec)) {
    const fields = entry.split(':');
    if (fields.length < 2) throw new LogSpecError(`malformed output '${entry}' (expected LEVEL:DESTINATION[:DATA])`);
    const priority = parsePriority(fields[0]!, entry);
    const dest = fields[1]!;
    let output: LogOutputSpec;
    if (dest === 'stderr' || dest === 'journald') {
      if (fields.length !== 2) throw new LogSpecError(`output '${entry}': ${dest} takes no argument`);
      output = { priority, destination: dest };
    } else if (dest === 'file' || dest === 'syslog') {
      if (fields.length !== 3 || fields[2] === '') {
        throw new LogSpecError(`output '${entry}': ${dest} needs exactly one argument (${dest === 'file' ? 'a path without \':\'' : 'an ident'})`);
      }
      output = dest === 'file' ? { priority, destination: 'file', path: path.resolve(fields[2]!) } : { priority, destination: 'syslog', ident: fields[2]! };
    } else {
      throw new LogSpecError(`output '${entry}': unknown destination '${dest}' (expected stderr, file, syslog or journald)`);
    }
    // Same destination again: the later one replaces the earlier, as virtlockd does.
    const same = outputs.findIndex((o) => o.destination === output.destination && outputName(o) === outputName(output));
    if (same >= 0) outputs.splice(same, 1);
    outputs.push(output);
  }
  return outputs;
}

function outputName(o: LogOutputSpec): string {
  return o.destination === 'file' ? o.path : o.destination === 'syslog' ? o.ident : '';
}

/** Formats outputs back into log_outputs syntax (for admin answers). */
export function formatLogOutputs(outputs: readonly LogOutputSpec[]): string {
  return outputs
    .map((o) => {
      const name = outputName(o);
      return name === '' ? `${o.priority}:${o.destination}` : `${o.priority}:${o.destination}:${name}`;
    })
    .join(' ');
}

/**
 * Parses a log_filters string.
 * @throws LogSpecError on the first malformed filter
 */
export function parseLogFilters(spec: string): LogFilterSpec[] {
  return entriesOf(spec).map((entry) => {
    const fields = entry.split(':');
    if (fields.length < 2) throw new LogSpecError(`malformed filter '${entry}' (expected LEVEL:MATCH)`);
    const priority = parsePriority(fields[0]!, entry);
    const match = fields[1]!.startsWith('+') ? fields[1]!.slice(1) : fields[1]!;
    if (match === '') throw new LogSpecError(`filter '${entry}' has an empty match`);
    return { priority, match };
  });
}

/** Formats filters back into log_filters syntax (for admin answers). */
export function formatLogFilters(filters: readonly LogFilterSpec[]): string {
  return filters.map((f) => `${f.priority}:${f.match}`).join(' ');
}

/** True when a filter's match fits the category, with libvirt's implicit "*match*" glob. */
export function filterMatches(filter: LogFilterSpec, category: string): boolean {
  const body = filter.match.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^.*${body}.*$`, 's').test(category);
}
