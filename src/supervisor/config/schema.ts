// The settings holdfastd accepts: one JSON Schema (checked by ajv in validate-config.ts) and the
// resolved HoldfastConfig type. Data only; no file reading, no validation logic here.
//
// virtlockd 9.0 reads exactly five keys (lock_daemon_config.c, virLockDaemonConfigLoadOptions; the same
// five are in Debian's /usr/share/augeas/lenses/virtlockd.aug): log_level, log_filters, log_outputs,
// max_clients, admin_max_clients. max_size / max_backups / max_age_days / log_root are virtlogd's, not
// virtlockd's. virtlockd silently ignores unknown keys; holdfast refuses them (a typo must not go unnoticed).

/** Every setting, resolved: defaults applied, file and command line merged. */
export interface HoldfastConfig {
  /** libvirt priority: 1 debug, 2 info, 3 warning, 4 error. */
  log_level: 1 | 2 | 3 | 4;
  /** virtlockd `log_filters` syntax: space-separated "LEVEL:match" entries; '' for none. */
  log_filters: string;
  /** virtlockd `log_outputs` syntax: space-separated "LEVEL:stderr", "LEVEL:file:PATH", …; '' for the default. */
  log_outputs: string;
  max_clients: number;
  admin_max_clients: number;
  socket_path: string;
  admin_socket_path: string;
  state_file: string;
  pid_file: string;
  worker_ready_timeout_ms: number;
  worker_stall_timeout_ms: number;
  owner_kill_term_grace_ms: number;
  owner_kill_give_up_ms: number;
  max_frame_bytes_per_client: number;
  max_frame_bytes_total: number;
  frame_deadline_ms: number;
  log_format: 'json' | 'pretty';
  // The cluster_* keys: absent (except the two with static defaults) unless the file sets them, and every
  // one but cluster_etcd_endpoints is refused without it. cluster-settings-from-config.ts resolves them.
  cluster_etcd_endpoints?: string[];
  cluster_lockspaces?: string[];
  cluster_path_prefixes?: string[];
  /** Default (resolved, not here): the machine id from /etc/machine-id. */
  cluster_host_id?: string;
  cluster_lease_ttl_ms: number;
  cluster_key_prefix: string;
  cluster_tls_ca_file?: string;
  cluster_tls_cert_file?: string;
  cluster_tls_key_file?: string;
  cluster_username?: string;
  cluster_password_file?: string;
  cluster_watchdog_device?: string;
  cluster_watchdog_timeout_ms?: number;
}

/** A setting's name. */
export type SettingKey = keyof HoldfastConfig;

/** Settings as they may appear in a file or as overrides (before defaults). */
export type HoldfastSettings = Partial<HoldfastConfig>;

/** Keys whose default depends on the user and --run-dir (see paths.ts), so the schema has no `default`. */
export const PATH_KEYS = ['socket_path', 'admin_socket_path', 'state_file', 'pid_file'] as const;

/** The keys virtlockd 9.0 itself reads from virtlockd.conf. */
export const VIRTLOCKD_KEYS = ['log_level', 'log_filters', 'log_outputs', 'max_clients', 'admin_max_clients'] as const;

/** Keys of virtlogd.conf that people copy into virtlockd.conf by mistake; used for a clearer message. */
export const VIRTLOGD_ONLY_KEYS = ['max_size', 'max_backups', 'max_age_days', 'log_root'] as const;

const UINT_MAX = 4294967295; // virtlockd reads its counts with virConfGetValueUInt

/** Pattern of an absolute path (the schema's only path rule; validate-config.ts adds the rest). */
export const ABSOLUTE_PATH_PATTERN = '^/';
/** Pattern of an etcd endpoint: the scheme only; validate-config.ts parses the rest as a URL. */
export const ENDPOINT_PATTERN = '^https?://';
/** cluster_host_id goes into etcd keys: a plain, short name. */
export const HOST_ID_PATTERN = '^[A-Za-z0-9._-]{1,64}$';
/** cluster_key_prefix: printable ASCII without spaces, '/' first and last. */
export const KEY_PREFIX_PATTERN = '^/([!-~]*/)?$';
/** cluster_username: printable ASCII without spaces. */
export const USERNAME_PATTERN = '^[!-~]{1,128}$';

/** The cluster_* keys, in schema order. */
export const CLUSTER_KEYS = [
  'cluster_etcd_endpoints',
  'cluster_lockspaces',
  'cluster_path_prefixes',
  'cluster_host_id',
  'cluster_lease_ttl_ms',
  'cluster_key_prefix',
  'cluster_tls_ca_file',
  'cluster_tls_cert_file',
  'cluster_tls_key_file',
  'cluster_username',
  'cluster_password_file',
  'cluster_watchdog_device',
  'cluster_watchdog_timeout_ms',
] as const satisfies readonly SettingKey[];

const absolutePath = (description: string) => ({
  type: 'string',
  minLength: 2,
  pattern: ABSOLUTE_PATH_PATTERN,
  description,
});

// Lists of paths: bounded so that the worker's settings stay a small message.
const absolutePaths = (description: string) => ({
  type: 'array',
  maxItems: 256,
  uniqueItems: true,
  items: { type: 'string', minLength: 2, maxLength: 4096, pattern: ABSOLUTE_PATH_PATTERN },
  description,
});

/**
 * JSON Schema (draft-07, ajv 8 strict mode) of the settings object built from a config file and
 * the command line. Static defaults live here (`default`, applied by ajv's useDefaults); path
 * defaults are filled in by load-config.ts from paths.ts.
 */
export const SETTINGS_SCHEMA = {
  $id: 'https://holdfast.invalid/schemas/settings.json',
  title: 'holdfastd settings',
  description: 'virtlockd.conf keys understood by holdfastd, plus holdfast\'s own keys.',
  type: 'object',
  additionalProperties: false,
  properties: {
    log_level: {
      type: 'integer',
      minimum: 1,
      maximum: 4,
      default: 3,
      description: 'virtlockd key. Default priority for log messages: 1 debug, 2 info, 3 warning, 4 error.',
    },
    log_filters: {
      type: 'string',
      default: '',
      description:
        'virtlockd key. Space-separated "LEVEL:match" filters; a filter whose match (a glob, implicitly *match*) ' +
        'fits a component name (supervisor, worker, rpc, lockspace, custody, …) sets that component\'s level.',
    },
    log_outputs: {
      type: 'string',
      default: '',
      description:
        'virtlockd key. Space-separated outputs "LEVEL:stderr", "LEVEL:file:PATH", "LEVEL:syslog:NAME", "LEVEL:journald". ' +
        'syslog and journald are refused (not implemented): use stderr, which is the journal under systemd. Empty: one stderr output at log_level.',
    },
    max_clients: {
      type: 'integer',
      minimum: 1,
      maximum: UINT_MAX,
      default: 1024,
      description: 'virtlockd key. Most concurrent clients on the lock socket.',
    },
    admin_max_clients: {
      type: 'integer',
      minimum: 1,
      maximum: UINT_MAX,
      default: 5000,
      description: 'virtlockd key. Most concurrent clients on the admin socket.',
    },
    socket_path: absolutePath(
      'holdfast key. Lock protocol socket. Default as virtlockd: /run/libvirt/virtlockd-sock (root), ' +
        '$XDG_RUNTIME_DIR/libvirt/virtlockd-sock (other users), <run-dir>/holdfastd-sock with --run-dir.',
    ),
    admin_socket_path: absolutePath(
      'holdfast key. Admin protocol socket. Default /run/libvirt/virtlockd-admin-sock (root), ' +
        '$XDG_RUNTIME_DIR/libvirt/virtlockd-admin-sock, <run-dir>/holdfastd-admin-sock with --run-dir.',
    ),
    state_file: absolutePath(
      'holdfast key. Where the restart-exec state document is written before a re-exec. Default ' +
        '/run/virtlockd-restart-exec.json (root), $XDG_RUNTIME_DIR/libvirt/virtlockd-restart-exec.json, ' +
        '<run-dir>/holdfastd-restart-exec.json with --run-dir.',
    ),
    pid_file: absolutePath(
      'holdfast key. PID file. Default /run/virtlockd.pid (root), $XDG_RUNTIME_DIR/libvirt/virtlockd.pid, ' +
        '<run-dir>/holdfastd.pid with --run-dir.',
    ),
    worker_ready_timeout_ms: {
      type: 'integer',
      minimum: 1,
      maximum: 3600000,
      default: 5000,
      description: 'holdfast key. How long the supervisor waits for a new worker to report ready before giving up on it.',
    },
    worker_stall_timeout_ms: {
      type: 'integer',
      minimum: 100,
      maximum: 3600000,
      default: 5000,
      description:
        'holdfast key. A serving worker that makes no progress for this long while clients have requests waiting ' +
        '(stopped, or stuck in a loop) is killed and replaced, as after a crash.',
    },
    owner_kill_term_grace_ms: {
      type: 'integer',
      minimum: 0,
      maximum: 3600000,
      default: 1600,
      description:
        'holdfast key. After SIGTERM to a lock owner whose connection dropped with locks held, wait this long, ' +
        'then send SIGKILL (virtlockd: 8 polls of 200 ms).',
    },
    owner_kill_give_up_ms: {
      type: 'integer',
      minimum: 0,
      maximum: 3600000,
      default: 3000,
      description:
        'holdfast key. Stop waiting for a killed owner to exit after this long (virtlockd: 15 polls of 200 ms). ' +
        'Must be at least owner_kill_term_grace_ms.',
    },
    max_frame_bytes_per_client: {
      type: 'integer',
      minimum: 262144,
      maximum: 33554436,
      default: 8388608,
      description:
        'holdfast key. Largest frame (length word included) one client may send; a longer length word closes the ' +
        'connection, as libvirt does for one over its 32 MiB. Lock calls stay under 200 KiB, admin calls under 4.1 MiB.',
    },
    max_frame_bytes_total: {
      type: 'integer',
      minimum: 262144,
      maximum: 4294967295,
      default: 67108864,
      description:
        'holdfast key. Most bytes the worker holds for frames over 256 KiB, across all clients; a client whose ' +
        'frame would go past it is closed. Frames up to 256 KiB (every lock call) are never refused for it. ' +
        'Must be at least max_frame_bytes_per_client.',
    },
    frame_deadline_ms: {
      type: 'integer',
      minimum: 100,
      maximum: 3600000,
      default: 30000,
      description: 'holdfast key. A client must complete a frame within this long of its first byte, or it is closed.',
    },
    log_format: {
      type: 'string',
      enum: ['json', 'pretty'],
      default: 'json',
      description: 'holdfast key. "json": one JSON object per line; "pretty": human-readable lines (stderr only; files stay JSON).',
    },
    cluster_etcd_endpoints: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      uniqueItems: true,
      items: { type: 'string', maxLength: 1024, pattern: ENDPOINT_PATTERN },
      description:
        'holdfast key. etcd client URLs, e.g. [ "https://etcd1:2379", "https://etcd2:2379" ], all http:// or all https://. ' +
        'Setting it turns on cluster locking: this host keeps a lease in etcd, and locks in the lockspaces of ' +
        'cluster_lockspaces and cluster_path_prefixes are also held in etcd, so that two hosts never hold conflicting locks. ' +
        'Unset (the default): no cluster, and every other cluster_ key is refused.',
    },
    cluster_lockspaces: absolutePaths(
      'holdfast key. Directory lockspaces whose locks are cluster-wide, by the path clients name them with ' +
        '(libvirt\'s file_lockspace_dir, lvm_lockspace_dir or scsi_lockspace_dir in qemu-lockd.conf), compared exactly. ' +
        'The directory should be on storage every host of the cluster shares. ' +
        'With cluster_etcd_endpoints, this or cluster_path_prefixes must name at least one entry.',
    ),
    cluster_path_prefixes: absolutePaths(
      'holdfast key. Locks of the default (direct) lockspace on a path that starts with one of these prefixes ' +
        '(compared as strings: end a directory with "/") are cluster-wide, e.g. [ "/var/lib/libvirt/images/shared/" ].',
    ),
    cluster_host_id: {
      type: 'string',
      pattern: HOST_ID_PATTERN,
      description:
        'holdfast key. This host\'s name in etcd: 1 to 64 letters, digits, ".", "_" or "-", unique in the cluster. ' +
        'Default: the machine id in /etc/machine-id (the start is refused if it cannot be read).',
    },
    cluster_lease_ttl_ms: {
      type: 'integer',
      minimum: 2000,
      maximum: 600000,
      multipleOf: 1000,
      default: 10000,
      description:
        'holdfast key. Time to live of this host\'s lease in etcd, in whole seconds written as milliseconds (etcd ' +
        'lease TTLs are whole seconds). A host that cannot renew its lease within it loses its cluster locks.',
    },
    cluster_key_prefix: {
      type: 'string',
      maxLength: 256,
      pattern: KEY_PREFIX_PATTERN,
      default: '/holdfast/',
      description:
        'holdfast key. Every etcd key holdfast writes starts with this; it starts and ends with "/" (printable ' +
        'characters, no spaces). Hosts share locks only under the same prefix.',
    },
    cluster_tls_ca_file: absolutePath(
      'holdfast key. PEM file of the certificate authorities that sign etcd\'s certificates; needs https:// endpoints. ' +
        'Unset: the system\'s CAs.',
    ),
    cluster_tls_cert_file: absolutePath(
      'holdfast key. PEM client certificate for etcd; needs cluster_tls_key_file and https:// endpoints.',
    ),
    cluster_tls_key_file: absolutePath(
      'holdfast key. PEM private key of cluster_tls_cert_file; needs it and https:// endpoints.',
    ),
    cluster_username: {
      type: 'string',
      pattern: USERNAME_PATTERN,
      description: 'holdfast key. etcd user to authenticate as (1 to 128 printable characters, no spaces); needs cluster_password_file.',
    },
    cluster_password_file: absolutePath(
      'holdfast key. File whose content is the password of cluster_username (a final newline is not part of it); ' +
        'needs cluster_username. Keep it readable by root only. ' +
        'This file and the cluster_tls_ files are read at start-up: one that cannot be read (or an empty password file) stops holdfastd there, ' +
        'and an upgrade (SIGUSR1) is refused while one cannot be read.',
    ),
    cluster_watchdog_device: absolutePath(
      'holdfast key. A watchdog device (e.g. /dev/watchdog, or a softdog\'s) that holdfastd opens at start-up, which ' +
        'arms it, and then writes to (pets) only while this host\'s lease in etcd is renewed: at each grant and renewal, ' +
        'and between them at most every third of cluster_lease_ttl_ms, each time only if the device, left unpetted from ' +
        'then on, would reset the host no later than the lease\'s safe deadline (so before etcd can expire the lease ' +
        'and give its disks to another host); never without a lease. A holdfastd that stops running (hung, stopped, ' +
        'killed) or a lease that stays unrenewed gets the host reset by the device, in time. Needs ' +
        'cluster_watchdog_timeout_ms. A clean stop ' +
        'disarms the device (the magic close), unless its driver has nowayout; an upgrade (SIGUSR1) keeps it open ' +
        'and armed. A device that cannot be opened (missing, or held by another watchdog daemon) is a start-up error. ' +
        'Unset: no watchdog.',
    ),
    cluster_watchdog_timeout_ms: {
      type: 'integer',
      minimum: 1000,
      maximum: 600000,
      description:
        'holdfast key. The timeout of cluster_watchdog_device, as its driver is set (e.g. softdog\'s soft_margin, in ' +
        'seconds there): holdfastd cannot read it, and pets only while now + this timeout is within the lease\'s safe ' +
        'deadline. It must lie between a third of cluster_lease_ttl_ms plus 500 ms (the longest wait between two ' +
        'renewals, with room for lag) and the safe deadline\'s distance from a renewal, cluster_lease_ttl_ms / 1.01 - ' +
        'min(1000, cluster_lease_ttl_ms / 5), minus 500 ms: for the default TTL of 10000, from 3834 to 8400. Needs ' +
        'cluster_watchdog_device.',
    },
  },
} as const;

/** Every key the schema knows, in schema order. */
export const SETTING_KEYS = Object.keys(SETTINGS_SCHEMA.properties) as SettingKey[];
