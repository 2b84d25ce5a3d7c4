#!/usr/bin/env node
// holdfast: the operator's command line. For now it drives the daemon through its pid file and signals;
// the admin-socket commands (status, locks, who, …) come with the admin service.
import { Command } from 'commander';
import * as fs from 'node:fs';
import { defaultPaths } from '../shared/paths';
import { HOLDFAST_VERSION } from '../shared/version';

interface DaemonLocation {
  pidFile?: string;
  runDir?: string;
}

function daemonPid(where: DaemonLocation): number {
  const pidFile = where.pidFile ?? defaultPaths({ uid: process.geteuid?.() ?? 0, runDir: where.runDir, env: process.env }).pidFile;
  let text: string;
  try {
    text = fs.readFileSync(pidFile, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${pidFile} (${(err as NodeJS.ErrnoException).code}): is holdfastd running?`);
  }
  const pid = Number.parseInt(text, 10);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`${pidFile} does not hold a pid`);
  return pid;
}

function signalDaemon(where: DaemonLocation, signal: NodeJS.Signals): number {
  const pid = daemonPid(where);
  try {
    process.kill(pid, signal);
  } catch (err) {
    throw new Error(`cannot signal holdfastd (pid ${pid}): ${(err as NodeJS.ErrnoException).code}`);
  }
  return pid;
}

const program = new Command('holdfast')
  .description('operate a running holdfastd')
  .version(HOLDFAST_VERSION, '-V, --version', 'print the version and exit')
  .option('--pid-file <file>', 'the daemon\'s pid file (default as holdfastd\'s)')
  .option('--run-dir <dir>', 'the daemon\'s --run-dir');

program
  .command('swap-worker')
  .description('replace the serving worker with a fresh one running the code now on disk, live')
  .action(() => {
    const pid = signalDaemon(program.opts<DaemonLocation>(), 'SIGUSR2');
    process.stdout.write(`worker swap requested from holdfastd (pid ${pid}); the daemon logs the outcome\n`);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`holdfast: ${(err as Error).message}\n`);
  process.exit(1);
});
