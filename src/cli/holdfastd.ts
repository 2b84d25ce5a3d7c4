#!/usr/bin/env -S node --disable-sigusr1
// holdfastd: the daemon's command line, with virtlockd's flags plus holdfast's paths.
// A runtime that can be made safe, then signal intake: from its first line on, no signal ends this process
// or goes unheard.
import './supported-node';
import '../shared/platform/signal-intake';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../supervisor/config/config-error';
import { loadConfig, type ConfigOverrides } from '../supervisor/config/load-config';
import type { HoldfastConfig } from '../supervisor/config/schema';
import { clusterSettingsFromConfig } from '../supervisor/config/cluster-settings-from-config';
import type { ClusterSettings } from '../shared/cluster/cluster-settings';
import { checkStateDocument, formatCheckReport } from '../supervisor/upgrade/check-state';
import { HOLDFAST_VERSION, LIBVIRT_VERSION, LOCK_PROGRAM_NUMBER } from '../shared/platform/version';
import { runDaemon } from '../supervisor/run-daemon';

interface DaemonFlags {
  daemon?: boolean;
  config?: string;
  pidFile?: string;
  timeout?: number;
  verbose?: boolean;
  socket?: string;
  adminSocket?: string;
  stateFile?: string;
  runDir?: string;
  pretty?: boolean;
  checkState?: string;
  checkPid?: number;
}

// --check-state: validate a restart-exec document (and, with --check-pid, the fds it names in that process)
// without touching it, and the configuration the other flags give; exit 0 if a new image started with those
// flags could adopt it. The supervisor runs this on the binary now on disk, with its own flags, before every
// upgrade: a new image that refused its configuration after the exec would drop every lock it inherited.
function checkState(flags: DaemonFlags, file: string, pid: number | undefined): never {
  const report = checkStateDocument(file, {
    ...(pid !== undefined ? { expectedMagic: String(pid), verifyFds: { pid, requireInheritable: false } } : {}),
  });
  process.stdout.write(`${formatCheckReport(report)}\n`);
  let configOk = true;
  try {
    clusterSettingsFromConfig(resolveConfig(flags, () => undefined));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    configOk = false;
    process.stdout.write(`configuration: REJECTED: ${err.message.split('\n').join('; ')}\n`);
  }
  process.exit(report.ok && configOk ? 0 : 1);
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
}

// virtlockd reads /etc/libvirt/virtlockd.conf as root and ~/.config/libvirt/virtlockd.conf otherwise;
// both may be missing.
function defaultConfigFile(uid: number, env: NodeJS.ProcessEnv): string {
  if (uid === 0) return '/etc/libvirt/virtlockd.conf';
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'libvirt', 'virtlockd.conf');
}

/** The config of `flags`; `onConflict` hears of each key of the file a flag overrides (default: stderr). */
function resolveConfig(flags: DaemonFlags, onConflict = (message: string): void => void process.stderr.write(`holdfastd: warning: ${message}\n`)): HoldfastConfig {
  const uid = process.geteuid?.() ?? 0;
  const overrides: ConfigOverrides = {
    socket_path: flags.socket,
    admin_socket_path: flags.adminSocket,
    state_file: flags.stateFile,
    pid_file: flags.pidFile,
    log_format: flags.pretty ? 'pretty' : undefined,
  };
  const implicit = flags.config === undefined && flags.runDir === undefined;
  const file = flags.config ?? (implicit ? defaultConfigFile(uid, process.env) : undefined);
  // Flags win over the file; each key of the file a flag overrides is said, one line each.
  const config = loadConfig(file, overrides, { uid, runDir: flags.runDir, allowMissing: implicit, onConflict });
  // As virtlockd: --verbose raises the level to at least info.
  if (flags.verbose && config.log_level > 2) config.log_level = 2;
  return config;
}

// Exit codes: 0 stopped cleanly; 2 usage, configuration or start-up error (and an unclean stop).
const EXIT_ERROR = 2;

// Like virtlockd's "virtlockd (libvirt) 9.0.0", plus the protocol it serves.
const VERSION_TEXT = `holdfastd (holdfast) ${HOLDFAST_VERSION}\nserves virtlockd's lock protocol of libvirt ${LIBVIRT_VERSION} (program 0x${LOCK_PROGRAM_NUMBER.toString(16)})`;

const program = new Command('holdfastd')
  .description('holdfast lock daemon: serves libvirt\'s virtlockd protocol and never lets go of a lock')
  .version(VERSION_TEXT, '-V, --version', 'print the version and exit')
  .option('-d, --daemon', 'run in the background once serving')
  .option('-f, --config <file>', 'configuration file (virtlockd.conf syntax)')
  .option('-p, --pid-file <file>', 'pid file (default as virtlockd\'s)')
  .option('-t, --timeout <seconds>', 'exit after this many idle seconds with no clients and no locks', wholeNumber)
  .option('-v, --verbose', 'log at info level or more')
  .option('--socket <path>', 'lock protocol socket path')
  .option('--admin-socket <path>', 'admin socket path')
  .option('--state-file <path>', 'restart-exec state document path')
  .option('--run-dir <dir>', 'put every socket and file under this directory (no root needed)')
  .option('--pretty', 'human-readable logs instead of JSON')
  .option('--check-state <file>', 'check a restart-exec state document and exit (0: adoptable)')
  .option('--check-pid <pid>', 'with --check-state: the document is for this pid; verify its fds there', wholeNumber)
  .helpOption('-h, --help', 'show this help')
  // A bad flag: commander's one-line error, a hint instead of the whole help, and exit 2.
  .showHelpAfterError("(run 'holdfastd --help' for usage)")
  .exitOverride()
  .action(async (flags: DaemonFlags) => {
    if (flags.checkState !== undefined) checkState(flags, flags.checkState, flags.checkPid);
    let config: HoldfastConfig;
    let cluster: ClusterSettings | null;
    try {
      config = resolveConfig(flags);
      // Here, not in the daemon: a host id that cannot be had is a configuration error, said before any --daemon fork.
      cluster = clusterSettingsFromConfig(config);
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`holdfastd: ${err.message}\n`);
        process.exit(EXIT_ERROR);
      }
      throw err;
    }
    await runDaemon(config, { daemonize: flags.daemon === true, idleTimeoutSec: flags.timeout ?? 0, verbose: flags.verbose === true, cluster });
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // commander printed the message (or the help, or the version) already.
    process.exit(err.exitCode === 0 ? 0 : EXIT_ERROR);
  }
  // One line; the stack only with -v.
  const verbose = process.argv.includes('-v') || process.argv.includes('--verbose');
  process.stderr.write(`holdfastd: ${verbose && err instanceof Error ? err.stack : ((err as Error).message ?? String(err))}\n`);
  process.exit(EXIT_ERROR);
});
