// `holdfast lockspaces`: the default lockspace and every directory lockspace, with their held resources.
import type { Command } from 'commander';
import { GlobalOptions, printJson, printLines, withAdmin } from '../cli-context';
import { table } from '../text-format';

export function registerLockspaces(program: Command): void {
  program
    .command('lockspaces')
    .description('list the lockspaces and how many resources each holds')
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<GlobalOptions>();
      const lockspaces = await withAdmin(opts, (c) => c.lockspaces());
      if (opts.json) return printJson(lockspaces);
      printLines(table(['LOCKSPACE', 'RESOURCES'], lockspaces.map((l) => [l.path === '' ? '(default)' : l.path, String(l.resources)])));
    });
}
