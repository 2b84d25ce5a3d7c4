// `holdfast upgrade` and `holdfast swap-worker`: ask the supervisor (through the admin socket) and wait on the
// same connection, which survives both, until it is done or refused. Exit 0 done, 1 refused/failed, 2 errors.
import type { Command } from 'commander';
import type { ActionResult } from '../../client/admin-client';
import { EXIT, GlobalOptions, printJson, printLines, withAdmin } from '../cli-context';

interface WaitFlags {
  timeout: string;
}

function timeoutMs(flags: WaitFlags): number {
  const seconds = Number(flags.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`--timeout must be a positive number of seconds, not '${flags.timeout}'`);
  return seconds * 1000;
}

function report(result: ActionResult, json: boolean | undefined, done: () => string, what: string): void {
  if (json) printJson(result);
  else if (result.ok) printLines([done()]);
  else process.stderr.write(`holdfast: ${what} ${result.accepted ? 'failed' : 'refused'}: ${result.reason ?? 'no reason given'}\n`);
  process.exitCode = result.ok ? EXIT.OK : EXIT.HELD_OR_REFUSED;
}

export function registerActions(program: Command): void {
  program
    .command('upgrade')
    .description('re-execute the daemon from the code on disk (the SIGUSR1 path), keeping every lock and client; wait for the outcome')
    .option('--timeout <seconds>', 'how long to wait for the outcome', '120')
    .action(async (flags: WaitFlags, command: Command) => {
      const opts = command.optsWithGlobals<GlobalOptions>();
      const wait = timeoutMs(flags);
      const result = await withAdmin(opts, (c) => c.upgrade({ timeoutMs: wait }));
      report(result, opts.json, () => {
        const s = result.status!;
        return `upgraded: holdfastd (pid ${s.supervisor?.pid}) now runs holdfast ${s.supervisor?.version}; upgrades done: ${s.supervisor?.upgrades}`;
      }, 'upgrade');
    });

  program
    .command('swap-worker')
    .description('replace the serving worker live with one running the code now on disk; wait for the outcome')
    .option('--timeout <seconds>', 'how long to wait for the outcome', '120')
    .action(async (flags: WaitFlags, command: Command) => {
      const opts = command.optsWithGlobals<GlobalOptions>();
      const wait = timeoutMs(flags);
      let before = 0;
      const result = await withAdmin(opts, async (c) => {
        before = (await c.status()).worker.pid;
        return c.swapWorker({ timeoutMs: wait });
      });
      report(result, opts.json, () => {
        const { worker: w, supervisor } = result.status!;
        return `worker of holdfastd (pid ${supervisor?.pid}) swapped: pid ${before} -> pid ${w.pid} (generation ${w.generation})`;
      }, 'worker swap');
    });
}
