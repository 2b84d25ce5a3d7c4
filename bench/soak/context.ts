// What every part of a soak run works with: the daemon, the files and lockspaces it locks, the ledger of
// believed-held files, the tally of losses, and the run's random stream.
import type { SoakDaemon } from './daemon';
import type { Ledger } from './ledger';
import type { Random } from './random';
import type { Tally } from './tally';

export interface SoakPaths {
  /** Run dir of the daemon (sockets, pid file, state, log). */
  run: string;
  /** Plain files locked in the direct lockspace. */
  files: string;
  /** Directory lockspace of the owners' AUTOCREATE resources. */
  lockspace: string;
  /** Directory lockspace of the churn, burst and fd-pressure clients. */
  churnLockspace: string;
  /** Where hostile symlinks point: outside every lockspace. */
  outside: string;
}

export interface SoakContext {
  daemon: SoakDaemon;
  paths: SoakPaths;
  /** Files every client may lock shared. */
  sharedFiles: string[];
  ledger: Ledger;
  tally: Tally;
  random: Random;
  /** Fake owner pids: above pid_max, so the daemon can never signal a real process for them. */
  nextFakePid(): number;
  /** False once the run is ending: loops finish their current step and leave. */
  running(): boolean;
}
