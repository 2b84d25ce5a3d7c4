// `holdfast status`: versions, pids, uptime, clients, locks and the upgrade/swap record of the daemon.
import type { Command } from 'commander';
import type { FdUse } from '../../shared/platform/fd-budget';
import type { ActionOutcome, StatusReply } from '../../shared/protocol/operations-program';
import { GlobalOptions, printJson, printLines, withAdmin } from '../cli-context';
import { LIBVIRT_VERSION } from '../../shared/platform/version';
import { PRIORITY_NAMES, formatDuration, formatTime } from '../text-format';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('versions, pids, uptime, clients, locks, upgrades, swaps and restarts of the daemon')
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<GlobalOptions>();
      const status = await withAdmin(opts, (c) => c.status());
      if (opts.json) printJson(status);
      else printLines(statusLines(status));
    });
}

function outcome(o: ActionOutcome | null): string {
  if (!o) return 'none yet';
  return o.ok ? `ok at ${formatTime(o.at)}` : `FAILED at ${formatTime(o.at)}: ${o.reason ?? 'unknown'}`;
}

function fdUse(use: FdUse | null): string {
  return use ? `${use.used} of ${use.limit}` : 'unknown';
}

function statusLines(s: StatusReply): string[] {
  const sup = s.supervisor;
  const up = s.uptimeSeconds === null ? 'unknown' : `${formatDuration(s.uptimeSeconds)} (since ${formatTime(s.daemonStartedAt!)})`;
  const lines = [
    // virt-admin's version answer is libvirt's (virt-admin needs it); who is behind it is said here.
    `daemon:           holdfastd (holdfast) ${sup?.version ?? s.worker.version}, serving virtlockd's lock protocol of libvirt ${LIBVIRT_VERSION}`,
    `supervisor:       ${sup ? `pid ${sup.pid}, holdfast ${sup.version}` : 'not known yet'}`,
    `worker:           pid ${s.worker.pid}, generation ${s.worker.generation}, holdfast ${s.worker.version}, serving since ${formatTime(s.worker.startedAt)}`,
    `uptime:           ${up}`,
    `clients:          ${s.clients.lock} lock, ${s.clients.admin} admin`,
    `locks held:       ${s.locksHeld} (${s.lockspaces} directory lockspace${s.lockspaces === 1 ? '' : 's'} besides the default)`,
  ];
  if (sup) {
    lines.push(
      `upgrades:         ${sup.upgrades} done, ${sup.upgradeRefusals} refused; last: ${outcome(sup.lastUpgrade)}`,
      `worker swaps:     ${sup.workerSwaps} done, ${sup.swapFailures} failed; last: ${outcome(sup.lastSwap)}`,
      `worker restarts:  ${sup.workerRestarts}`,
    );
    // Only where a cluster is configured (see `holdfast cluster` for the whole of it).
    const c = sup.cluster;
    if (c) lines.push(`cluster:          lease ${c.lease.state}${c.lease.id === null ? '' : ` (id ${c.lease.id})`}; ${c.fences} fence(s), ${c.ownersKilled} owner(s) killed`);
  }
  if (s.fds) lines.push(`open files:       supervisor ${fdUse(s.fds.supervisor)}, worker ${fdUse(s.fds.worker)}`);
  lines.push(`log level:        ${s.logLevel} (${PRIORITY_NAMES[s.logLevel as 1 | 2 | 3 | 4] ?? '?'})`);
  return lines;
}
