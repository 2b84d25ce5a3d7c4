// What the man pages say beyond the flags (which come from the command lines, cli-definitions.ts) and the
// config keys (which come from the settings schema): signals, files, environment, exit status, prose.
// Text here is plain; roff.ts escapes it.

export interface Entry {
  term: string;
  text: string;
}

export const DAEMON_DESCRIPTION = [
  'holdfastd is a lock daemon for virtual machine disk images that speaks libvirt\'s virtlockd protocol (RPC program 0xEA7BEEF), so a libvirtd configured with lock_manager = "lockd" uses it in place of virtlockd(8), unchanged. Its flags, config file syntax and, as root, its socket and file paths are virtlockd\'s.',
  'A small supervisor process holds a copy of every lock fd and client socket; a worker process speaks the protocol. A worker that crashes or wedges is replaced without a lock being dropped or a client noticing, and SIGUSR1 re-executes the whole daemon from the code on disk (a live upgrade: same pid, every lock and client kept), as virtlockd\'s own SIGUSR1 does; holdfastd also adopts a running virtlockd\'s state through that re-exec.',
  'Locks are open file description (OFD) locks: the byte-range locks virtlockd takes, but owned by the daemon\'s open files rather than by its pid. Under systemd with FileDescriptorStoreMax= set, a copy of every lock fd is kept in systemd\'s fd store, so locks also survive a crash or restart of the supervisor.',
];

export const CONFIG_INTRO =
  'The config file (-f; default /etc/libvirt/virtlockd.conf for root, $XDG_CONFIG_HOME/libvirt/virtlockd.conf otherwise, neither required) uses virtlockd.conf\'s syntax: key = value lines, # comments, strings in double quotes. Besides virtlockd\'s five keys holdfastd reads its own. An unknown key or a bad value stops the start with file:line and what is wrong. A flag given on the command line wins over the same setting in the file.';

export const DAEMON_SIGNALS: Entry[] = [
  { term: 'SIGTERM, SIGINT, SIGQUIT', text: 'Stop: refuse new requests, answer those in progress, release every lock, remove the sockets and the pid file, exit 0.' },
  { term: 'SIGUSR1', text: 'Live upgrade: re-execute holdfastd from the code on disk with the same pid, keeping every lock and client (systemctl reload). If the new code refuses the state document, the daemon serves on with the old code and logs why.' },
  { term: 'SIGUSR2', text: 'Replace the serving worker with a fresh one running the code on disk, keeping every lock and client (what holdfast swap-worker asks for).' },
  { term: 'SIGHUP', text: 'Reopen the log files (logrotate). Never a stop, unlike virtlockd.' },
  { term: 'other signals', text: 'Caught and ignored from the process\'s first instruction (a preloaded signal guard), so no stray signal ends the daemon or loses a lock.' },
];

export const DAEMON_FILES: Entry[] = [
  { term: '/etc/libvirt/virtlockd.conf', text: 'The config file for root (see CONFIGURATION).' },
  { term: '/run/libvirt/virtlockd-sock', text: 'The lock protocol socket for root (socket_path, --socket); $XDG_RUNTIME_DIR/libvirt/virtlockd-sock for other users, falling back to ~/.cache/libvirt (created 0700) without XDG_RUNTIME_DIR; <run-dir>/holdfastd-sock with --run-dir.' },
  { term: '/run/libvirt/virtlockd-admin-sock', text: 'The admin socket (admin_socket_path, --admin-socket), for holdfast(1) and virt-admin(1); <run-dir>/holdfastd-admin-sock with --run-dir.' },
  { term: '/run/virtlockd.pid', text: 'The pid file, locked (flock) while the daemon runs (pid_file, -p); <run-dir>/holdfastd.pid with --run-dir.' },
  { term: '/run/virtlockd-restart-exec.json', text: 'The state document written before a re-exec and read by the next image (state_file, --state-file); virtlockd\'s own is adopted.' },
  { term: '/etc/machine-id', text: 'This host\'s machine id, the default cluster_host_id when cluster_etcd_endpoints is set.' },
  { term: '/run/holdfastd-fd-store.json', text: 'The journal of what each lock fd in systemd\'s fd store stands for, beside the state file.' },
  { term: '/lib/systemd/system/virtlockd.service', text: 'libvirt\'s unit; the package\'s systemd/virtlockd.service.d/holdfast.conf drop-in makes it run holdfastd. holdfast\'s own units are systemd/holdfastd.service, holdfastd.socket and holdfastd-admin.socket in the package.' },
];

export const DAEMON_ENVIRONMENT: Entry[] = [
  { term: 'LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES', text: 'Socket activation (sd_listen_fds(3)): holdfastd.socket or virtlockd.socket is the lock socket, holdfastd-admin.socket or virtlockd-admin.socket the admin socket; stored lock fds come back the same way after a restart.' },
  { term: 'NOTIFY_SOCKET', text: 'systemd notifications (sd_notify(3)): READY=1, STATUS=, RELOADING=1, STOPPING=1, FDSTORE=1.' },
  { term: 'WATCHDOG_USEC, WATCHDOG_PID', text: 'With WatchdogSec= in the unit, the supervisor pings systemd at half that interval.' },
  { term: 'HOLDFASTD_FD_STORE', text: '0 turns off keeping lock fds in systemd\'s fd store.' },
  { term: 'XDG_RUNTIME_DIR', text: 'Where a non-root daemon\'s sockets and files go by default ($XDG_RUNTIME_DIR/libvirt).' },
  { term: 'XDG_CONFIG_HOME, HOME', text: 'Where a non-root daemon looks for its config file by default.' },
  { term: 'XDG_CACHE_HOME', text: 'The fallback run directory without XDG_RUNTIME_DIR ($XDG_CACHE_HOME/libvirt, else ~/.cache/libvirt).' },
  { term: 'LD_PRELOAD', text: 'Kept, with the signal guard library put first, for every process image holdfastd starts.' },
  { term: 'HOLDFAST_WORKER_NODE_FLAGS', text: 'Node flags for the workers alone, separated by spaces (only --flags), for profiling: --perf-basic-prof, --trace-gc. Not for production.' },
  { term: 'HOLDFASTD_TEST_EXEC_PAUSE_MS, HOLDFASTD_TEST_POISON_RESOURCE, HOLDFASTD_TEST_WEDGE_RESOURCE, HOLDFASTD_TEST_CLUSTER_GATE', text: 'For the test suite only; never set them on a host.' },
];

export const DAEMON_EXIT_STATUS: Entry[] = [
  { term: '0', text: 'Stopped cleanly (or, with -d, the background daemon is serving); with --check-state, the document can be adopted.' },
  { term: '1', text: 'With --check-state: the document cannot be adopted.' },
  { term: '2', text: 'A usage error (unknown flag, bad value), a config error, or a failure to start or to serve.' },
];

export const CLIENT_DESCRIPTION = [
  'holdfast asks a running holdfastd(8) over its admin socket what it holds (status, locks, clients, lockspaces, who holds a file, the cluster and its etcd endpoints, metrics) and asks it to act (upgrade, swap-worker, log-level). It finds the socket as holdfastd does: the root default, $XDG_RUNTIME_DIR/libvirt for other users, --run-dir or --admin-socket. virt-admin(1) talks to the same socket.',
  'Where a cluster is configured (cluster_etcd_endpoints), cluster shows this host\'s part of it: each etcd endpoint asked on its own (about a second at most), the host lease, the cluster holds with their fencing tokens, and the fences; locks and who mark cluster resources and show each owner\'s fencing token; metrics adds the holdfast_cluster_* families.',
];

export const CLIENT_EXIT_STATUS: Entry[] = [
  { term: '0', text: 'Done (who: the file is free).' },
  { term: '1', text: 'who: the file is held; upgrade, swap-worker: refused or failed; cluster: no cluster is configured in the daemon.' },
  { term: '2', text: 'A usage error, no daemon on the socket, or any other error.' },
];

export const CLIENT_FILES: Entry[] = [
  { term: '/run/libvirt/virtlockd-admin-sock', text: 'The admin socket of a root holdfastd; $XDG_RUNTIME_DIR/libvirt/virtlockd-admin-sock for other users, <run-dir>/holdfastd-admin-sock with --run-dir.' },
  { term: 'dist/completion/holdfast.bash', text: 'Bash completion, in the installed package: copy it to /usr/share/bash-completion/completions/holdfast.' },
];

export const CLIENT_ENVIRONMENT: Entry[] = [
  { term: 'XDG_RUNTIME_DIR', text: 'Where a non-root daemon\'s admin socket is looked for by default.' },
];
