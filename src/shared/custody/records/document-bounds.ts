// The bounds the state document's schema puts on values (C types virtlockd writes, Linux limits, the lock
// protocol's string maximum), shared by the schema fragments of every record's document row and by
// state-schema.ts, which composes them.

/** Largest fd number (fds are C ints). */
export const MAX_FD = 2 ** 31 - 1;
/** Largest pid Linux can hand out (PID_MAX_LIMIT on 64-bit; /proc/sys/kernel/pid_max cannot exceed it). */
export const PID_MAX = 4_194_304;
/** virtlockd writes its counters as C unsigned ints. */
export const UINT_MAX = 4_294_967_295;
/** Longest string the lock protocol carries (lock_protocol.x string maximum): names, owner names. */
export const MAX_PROTOCOL_STRING = 65_536;
/** Longest lockspace directory: a path the kernel accepts (PATH_MAX). */
export const MAX_DIRECTORY = 4_096;
/** Longest resource path: a directory, "/" and a name. */
export const MAX_RESOURCE_PATH = MAX_DIRECTORY + 1 + MAX_PROTOCOL_STRING;
// Bounds on lists; the file-size limit (state-file.ts) is the tighter bound in practice.
/** Most resources in one lockspace. */
export const MAX_RESOURCES_PER_LOCKSPACE = 1_000_000;
/** Most owner entries of one resource. */
export const MAX_OWNERS_PER_RESOURCE = 100_000;
/** Latest time a JavaScript Date can hold, in ms since the epoch. */
const MAX_TIME_MS = 8.64e15;

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

// Optional keys: JSONSchemaType needs `nullable: true` for them, and `not null` keeps null out at run time.
export const notNull = { not: { type: 'null' } } as const;

export const uint = { type: 'integer', minimum: 0, maximum: UINT_MAX } as const;
export const safeUint = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
export const pid = { type: 'integer', minimum: 0, maximum: PID_MAX } as const;
// An owner pid is whatever REGISTER said: the protocol carries a u32 and virtlockd does not check it.
export const ownerPid = { type: 'integer', minimum: 0, maximum: 0xffffffff } as const;
export const timeMs = { type: 'integer', minimum: 0, maximum: MAX_TIME_MS } as const;
export const fd = { type: 'integer', minimum: 0, maximum: MAX_FD } as const;
// 0 none, 1 SASL, 2 polkit (VIR_NET_SERVER_SERVICE_AUTH_*).
export const auth = { type: 'integer', minimum: 0, maximum: 2 } as const;
