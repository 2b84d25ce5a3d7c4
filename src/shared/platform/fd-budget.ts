// The fd budget shared by supervisor and worker. The supervisor holds its own copy of every fd the worker
// files (each client socket and locked file), so if both ran under one RLIMIT_NOFILE the supervisor would
// run out first, and a commit whose fds do not fit is cut short by the kernel (MSG_CTRUNC): a lock the
// client was told it holds would not be in custody. So the worker runs with a soft limit lower than the
// supervisor's by WORKER_FD_RESERVE, and keeps WORKER_FD_HEADROOM of its own limit free of clients and
// files: it refuses them first, and the supervisor can always take whole commits and spawn workers.
//
// Why the numbers suffice. Let C be the clients and files the worker holds; it keeps C below its limit
// minus the headroom and its own node runtime, so C <= L - RESERVE - HEADROOM - base. The supervisor
// holds, beside the same node runtime (measured: within one fd of the worker's): C, plus
//   - the fds of one commit it is receiving, before the drops in that commit close older ones:
//     at most COMMIT_FDS_MAX (the worker never puts more in one datagram);
//   - while a swap stages the custody snapshot with the old worker still serving, the dups of one chunk
//     queued for the new worker: at most SNAPSHOT_FDS_MAX (one chunk is in the channel at a time);
//   - its own: the pid file, listeners, the channel and reply pipe of up to three workers (serving, the one
//     swapping in, a standby), the fds of a spawn in progress, an upgrade's checking child, the state file
//     and the service-manager socket: under 40; SUPERVISOR_OWN_FDS allows 64.
// In all at most L - HEADROOM plus the difference of the two runtimes: well under L. A worker being started receives the snapshot in chunks and may hold
// a chunk's fds beside the ones they replace (drops travel first), so the headroom covers a chunk too.
// The ACQUIRE that would eat into the headroom is refused as virtlockd refuses a failed open (EMFILE).

/** Most fds the worker attaches to one commit datagram. */
export const COMMIT_FDS_MAX = 32;
/** Most fds in one chunk of the custody snapshot the supervisor sends a worker. */
export const SNAPSHOT_FDS_MAX = 32;
/** What the supervisor holds beyond the worker's clients and files (see above), with room to spare. */
const SUPERVISOR_OWN_FDS = 64;
/** The worker's soft RLIMIT_NOFILE is the supervisor's minus this. */
export const WORKER_FD_RESERVE = COMMIT_FDS_MAX + SNAPSHOT_FDS_MAX + SUPERVISOR_OWN_FDS;
/** The worker takes no client or file within this many fds of its limit. */
export const WORKER_FD_HEADROOM = SNAPSHOT_FDS_MAX + 32;
/** Of the worker's budget, this many are for clients only: a client can still connect to release. */
export const CLIENT_SPARE_FDS = 16;
/** Below this hard limit the worker would have no room for a single file after its runtime: refuse to start. */
export const MIN_NOFILE = WORKER_FD_RESERVE + WORKER_FD_HEADROOM + CLIENT_SPARE_FDS + 64;

/** Open fds against the soft limit, for status and metrics. */
export interface FdUse {
  used: number;
  limit: number;
}
