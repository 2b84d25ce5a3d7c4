// `holdfast clients`: every connection of the lock and admin servers, with the owner each registered.
import type { Command } from 'commander';
import { GlobalOptions, printJson, printLines, withAdmin } from '../cli-context';
import { formatTime, table } from '../text-format';

export function registerClients(program: Command): void {
  program
    .command('clients')
    .description('list the connected clients (lock and admin) and the owners they registered')
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<GlobalOptions>();
      const clients = await withAdmin(opts, (c) => c.clients());
      if (opts.json) return printJson(clients);
      const rows = clients.map((c) => [
        c.server,
        String(c.id),
        String(c.pid),
        String(c.uid),
        c.owner?.name ?? '-',
        c.owner?.uuid ?? '-',
        c.owner ? String(c.owner.pid) : '-',
        String(c.locks),
        c.restricted ? 'yes' : 'no',
        formatTime(c.connectedAt),
      ]);
      printLines(table(['SERVER', 'ID', 'PID', 'UID', 'OWNER', 'UUID', 'OWNER-PID', 'LOCKS', 'RESTRICTED', 'CONNECTED'], rows));
    });
}
