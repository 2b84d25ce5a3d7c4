#!/usr/bin/env node
// holdfast: the operator's command line, over holdfastd's admin socket (holdfast's admin program). Each
// command lives in src/cli/commands/; shared options, connection and error reporting in cli-context.ts.
import { Command, CommanderError } from 'commander';
import { HOLDFAST_VERSION } from '../shared/platform/version';
import { CliError, EXIT, endOutputOnClosedPipe } from './cli-context';
import { registerActions } from './commands/actions';
import { registerClients } from './commands/clients';
import { registerCluster } from './commands/cluster';
import { registerLockspaces } from './commands/lockspaces';
import { registerLocks } from './commands/locks';
import { registerLogLevel } from './commands/log-level';
import { registerMetrics } from './commands/metrics';
import { registerStatus } from './commands/status';
import { registerWho } from './commands/who';

const program = new Command('holdfast')
  .description('operate a running holdfastd through its admin socket')
  .version(HOLDFAST_VERSION, '-V, --version', 'print the version and exit')
  .option('--admin-socket <path>', "the daemon's admin socket (default as holdfastd's)")
  .option('--run-dir <dir>', "the daemon's --run-dir (its admin socket is <dir>/holdfastd-admin-sock)")
  .option('--json', 'print JSON for scripts instead of tables')
  // Usage errors exit 2, like connection errors, so that `who`'s 1 keeps meaning "held": one line and a hint.
  .exitOverride()
  .showHelpAfterError("(run 'holdfast --help' for usage)");

// A reader that stops early (`holdfast locks | head -1`) ends the output, as for any Unix tool: exit 0.
endOutputOnClosedPipe(process.stdout);

registerStatus(program);
registerLocks(program);
registerClients(program);
registerLockspaces(program);
registerWho(program);
registerCluster(program);
registerActions(program);
registerLogLevel(program);
registerMetrics(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // commander has printed its message (or the help / version) already.
    process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.ERROR);
  }
  process.stderr.write(`holdfast: ${(err as Error).message}\n`);
  process.exit(err instanceof CliError ? err.exitCode : EXIT.ERROR);
});
