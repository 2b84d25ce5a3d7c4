// `holdfast log-level LEVEL`: change the daemon's log level at run time (libvirt 1..4 or a name).
import type { Command } from 'commander';
import { GlobalOptions, printJson, printLines, withAdmin } from '../cli-context';
import { ACCEPTED_PRIORITY_TEXT } from '../../shared/platform/log-priority-names';
import { PRIORITY_NAMES } from '../text-format';

export function registerLogLevel(program: Command): void {
  program
    .command('log-level')
    .description('set the log level of the daemon: 1..4 or its name (debug, info, warning, error)')
    .argument('<level>', ACCEPTED_PRIORITY_TEXT)
    .action(async (level: string, _opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<GlobalOptions>();
      const result = await withAdmin(opts, (c) => c.setLogLevel(level));
      if (opts.json) return printJson(result);
      const name = (n: number): string => `${n} (${PRIORITY_NAMES[n as 1 | 2 | 3 | 4] ?? '?'})`;
      printLines([`log level: ${name(result.previous)} -> ${name(result.level)}`]);
    });
}
