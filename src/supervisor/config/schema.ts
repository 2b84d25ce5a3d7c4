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

const absolutePath = (description: string) => ({
  type: 'string',
  minLength: 2,
  pattern: '^/',
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
  },
} as const;

/** Every key the schema knows, in schema order. */
export const SETTING_KEYS = Object.keys(SETTINGS_SCHEMA.properties) as SettingKey[];
