// A daemon that cannot start says so in one line on stderr that names the path and the cause, and exits 2.
// The stack is for whoever asked for it: with -v, or in a log that is not stderr (a log file).
import type { Logger } from 'pino';
import { parseLogOutputs } from '../../shared/platform/log-spec';

/** holdfastd's exit code for a usage, configuration or start-up error. */
export const STARTUP_FAILED_EXIT = 2;

export interface StartupFailureOptions {
  verbose: boolean;
  /** The configured log_outputs: does the JSON log end on stderr, next to the one line? */
  logOutputs: string;
}

/** True when the logger writes to stderr (no outputs, or a stderr one among them). */
function logsToStderr(logOutputs: string): boolean {
  const outputs = parseLogOutputs(logOutputs);
  return outputs.length === 0 || outputs.some((o) => o.destination !== 'file');
}

/** Reports a start-up failure and sets the exit code; the caller returns without serving. */
export function reportStartupFailure(log: Logger, cause: unknown, opts: StartupFailureOptions): void {
  const message = cause instanceof Error ? cause.message : String(cause);
  if (opts.verbose || !logsToStderr(opts.logOutputs)) log.fatal({ err: cause }, `cannot start: ${message}`);
  process.stderr.write(`holdfastd: cannot start: ${message}\n`);
  process.exitCode = STARTUP_FAILED_EXIT;
}
