// `holdfast locks`: every held resource with its lockspace, mode, owners (name, UUID, pid), connections and
// since when; filters by path or owner.
import * as path from 'node:path';
import type { Command } from 'commander';
import type { LockInfo } from '../../shared/protocol/operations-program';
import { GlobalOptions, printJson, printLines, withAdmin } from '../cli-context';
import { formatTime, table } from '../text-format';

export function registerLocks(program: Command): void {
  program
    .command('locks')
    .description('list every held resource (lockspace, path, mode, owners, connections, acquired at)')
    .option('--path <path>', 'only the resource locking this file')
    .option('--owner <owner>', 'only resources held by this owner (name, UUID or pid)')
    .action(async (local: { path?: string; owner?: string }, command: Command) => {
      const opts = command.optsWithGlobals<GlobalOptions>();
      const filter = { ...(local.path !== undefined ? { path: path.resolve(local.path) } : {}), ...(local.owner !== undefined ? { owner: local.owner } : {}) };
      const locks = await withAdmin(opts, (c) => c.locks(filter));
      if (opts.json) printJson(locks);
      else printLines(locks.length === 0 ? ['no locks held'] : lockTable(locks));
    });
}

/**
 * One row per owner of each resource; the resource's own columns only on its first row. Cluster resources
 * add a TOKEN column (each owner's fencing token), shown only when one is listed.
 */
export function lockTable(locks: LockInfo[]): string[] {
  const anyCluster = locks.some((l) => l.cluster === true);
  const rows: string[][] = [];
  for (const l of locks) {
    const owners = l.owners.length > 0 ? l.owners : [{ pid: 0, name: null, uuid: null, clients: [], detached: false }];
    owners.forEach((o, i) => {
      const first = i === 0;
      const row = [
        first ? l.path : '',
        first ? (l.cluster ? `${l.mode} cluster` : l.mode) : '',
        o.name ?? '-',
        o.uuid ?? '-',
        String(o.pid),
        o.clients.length > 0 ? o.clients.join(',') : o.detached ? 'none (detached)' : '-',
        first ? formatTime(l.acquiredAt) : '',
        first ? (l.lockspace === '' ? '(default)' : l.lockspace) : '',
      ];
      if (anyCluster) row.push(l.cluster ? o.token ?? 'pending' : '-');
      rows.push(row);
    });
  }
  const header = ['PATH', 'MODE', 'OWNER', 'UUID', 'PID', 'CLIENT', 'ACQUIRED', 'LOCKSPACE'];
  return table(anyCluster ? [...header, 'TOKEN'] : header, rows);
}
