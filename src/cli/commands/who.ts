// `holdfast who PATH`: who holds a file. Exit 0 when it is free, 1 when held (and by whom), 2 on errors.
import * as path from 'node:path';
import type { Command } from 'commander';
import { EXIT, GlobalOptions, printJson, printLines, withAdmin } from '../cli-context';
import type { WhoReply } from '../../shared/protocol/operations-program';
import { formatTime } from '../text-format';

export function registerWho(program: Command): void {
  program
    .command('who')
    .description('say who holds the lock on a file: exit 0 when free, 1 when held, 2 on errors')
    .argument('<path>', 'the locked file (disk image or lease file)')
    .action(async (file: string, _opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<GlobalOptions>();
      const who = await withAdmin(opts, (c) => c.who(path.resolve(file)));
      if (opts.json) printJson(who);
      else if (!who.held) printLines([`${who.path} is free`]);
      else printLines(whoLines(who));
      process.exitCode = who.held ? EXIT.HELD_OR_REFUSED : EXIT.OK;
    });
}

/** The text form of a held file: each holding resource, then its owners (a cluster one with their fencing tokens). */
export function whoLines(who: WhoReply): string[] {
  const lines: string[] = [];
  for (const h of who.holders) {
    const where = h.lockspace === '' ? '' : ` in lockspace ${h.lockspace}`;
    const across = h.cluster ? ' across the cluster' : '';
    lines.push(`${who.path} is held ${h.mode}${across}${where} since ${formatTime(h.acquiredAt)} by:`);
    for (const o of h.owners) {
      const clients =
        o.clients.length > 0
          ? `client ${o.clients.join(',')}`
          : o.detached
            ? 'no connection: taken back from the fd store after a restart, held until this pid exits'
            : 'no connection';
      const token = h.cluster ? `, fencing token ${o.token ?? 'pending'}` : '';
      lines.push(`  ${o.name ?? '(unknown owner)'} uuid ${o.uuid ?? '-'} pid ${o.pid} (${clients}${token})`);
    }
  }
  return lines;
}
