// libvirt's admin wire contract (src/admin/admin_protocol.x, program 0x06900690) as virt-admin speaks it:
// procedure numbers, limits, typed-parameter names, encoders/decoders for both sides of every call, and the
// procedure table (names, flag checks, args codecs) the worker dispatches from. Pure data and codecs: no
// sockets, no server state.

import type { FlagRule } from './flag-check';
import { VirErrorDomain } from './vir-error';
import { readTypedParams, TypedParam, writeTypedParams } from './typed-params';
import { XdrReader, XdrWriter } from './xdr';
import { MESSAGE_STRING_MAX } from './message';

/** `ADMIN_PROGRAM`. */
export const ADMIN_PROGRAM = 0x06900690;
/** `ADMIN_PROTOCOL_VERSION`. */
export const ADMIN_PROGRAM_VERSION = 1;
/** `ADMIN_STRING_MAX`: longest string on this program (the same bound as every libvirt RPC string). */
export const ADMIN_STRING_MAX = MESSAGE_STRING_MAX;
/** `ADMIN_SERVER_LIST_MAX`. */
export const ADMIN_SERVER_LIST_MAX = 16384;
/** `ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX`. */
export const ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX = 32;
/** `ADMIN_CLIENT_LIST_MAX`. */
export const ADMIN_CLIENT_LIST_MAX = 16384;
/** `ADMIN_CLIENT_INFO_PARAMETERS_MAX`. */
export const ADMIN_CLIENT_INFO_PARAMETERS_MAX = 64;
/** `ADMIN_SERVER_CLIENT_LIMITS_MAX`. */
export const ADMIN_SERVER_CLIENT_LIMITS_MAX = 32;

/** `admin_procedure`. */
export enum AdminProcedure {
  CONNECT_OPEN = 1,
  CONNECT_CLOSE = 2,
  CONNECT_GET_LIB_VERSION = 3,
  CONNECT_LIST_SERVERS = 4,
  CONNECT_LOOKUP_SERVER = 5,
  SERVER_GET_THREADPOOL_PARAMETERS = 6,
  SERVER_SET_THREADPOOL_PARAMETERS = 7,
  SERVER_LIST_CLIENTS = 8,
  SERVER_LOOKUP_CLIENT = 9,
  CLIENT_GET_INFO = 10,
  CLIENT_CLOSE = 11,
  SERVER_GET_CLIENT_LIMITS = 12,
  SERVER_SET_CLIENT_LIMITS = 13,
  CONNECT_GET_LOGGING_OUTPUTS = 14,
  CONNECT_GET_LOGGING_FILTERS = 15,
  CONNECT_SET_LOGGING_OUTPUTS = 16,
  CONNECT_SET_LOGGING_FILTERS = 17,
  SERVER_UPDATE_TLS_FILES = 18,
  CONNECT_SET_DAEMON_TIMEOUT = 19,
}

/** `virClientTransport`: how a client is connected (virt-admin prints unix/tcp/tls). */
export enum ClientTransport {
  UNIX = 0,
  TCP = 1,
  TLS = 2,
}

/** Threadpool parameter names (`VIR_THREADPOOL_*`, libvirt-admin.h). */
export const ThreadpoolParam = {
  MIN_WORKERS: 'minWorkers',
  MAX_WORKERS: 'maxWorkers',
  WORKERS: 'nWorkers',
  FREE_WORKERS: 'freeWorkers',
  PRIO_WORKERS: 'prioWorkers',
  JOB_QUEUE_DEPTH: 'jobQueueDepth',
} as const;

/** Client-limit parameter names (`VIR_SERVER_CLIENTS_*`). */
export const ClientLimitParam = {
  MAX: 'nclients_max',
  CURRENT: 'nclients',
  UNAUTH_MAX: 'nclients_unauth_max',
  UNAUTH_CURRENT: 'nclients_unauth',
} as const;

/** Client-info parameter names (`VIR_CLIENT_INFO_*`) that a unix-socket client can have. */
export const ClientInfoParam = {
  READONLY: 'readonly',
  SOCKET_ADDR: 'sock_addr',
  UNIX_USER_ID: 'unix_user_id',
  UNIX_USER_NAME: 'unix_user_name',
  UNIX_GROUP_ID: 'unix_group_id',
  UNIX_GROUP_NAME: 'unix_group_name',
  UNIX_PROCESS_ID: 'unix_process_id',
} as const;

/** `admin_nonnull_client`: a client as the admin program names it. */
export interface AdminClientRef {
  /** Name of the server the client belongs to. */
  server: string;
  /** u64 client id, unique per server. */
  id: bigint;
  /** i64: when it connected, seconds since the epoch. */
  timestamp: bigint;
  /** {@link ClientTransport}. */
  transport: number;
}

/** Args carrying only flags (CONNECT_OPEN, GET_LOGGING_OUTPUTS/FILTERS). */
export interface FlagsArgs {
  flags: number;
}
/** LIST_SERVERS args. */
export interface ListServersArgs {
  needResults: number;
  flags: number;
}
/** LIST_SERVERS reply: the servers (when asked for) and their count. */
export interface ListServersRet {
  servers: string[];
  count: number;
}
/** LOOKUP_SERVER args, and every call that names a server (GET/SET_THREADPOOL, GET_CLIENT_LIMITS, UPDATE_TLS). */
export interface ServerArgs {
  server: string;
  flags: number;
}
/** SET_THREADPOOL_PARAMETERS / SET_CLIENT_LIMITS args. */
export interface ServerParamsArgs {
  server: string;
  params: TypedParam[];
  flags: number;
}
/** LIST_CLIENTS args. */
export interface ListClientsArgs {
  server: string;
  needResults: number;
  flags: number;
}
/** LIST_CLIENTS reply. */
export interface ListClientsRet {
  clients: AdminClientRef[];
  count: number;
}
/** LOOKUP_CLIENT args. */
export interface LookupClientArgs {
  server: string;
  id: bigint;
  flags: number;
}
/** CLIENT_GET_INFO / CLIENT_CLOSE args. */
export interface ClientArgs {
  client: AdminClientRef;
  flags: number;
}
/** GET_LOGGING_OUTPUTS reply. */
export interface LoggingOutputsRet {
  outputs: string;
  count: number;
}
/** GET_LOGGING_FILTERS reply (`filters` is null when there are none). */
export interface LoggingFiltersRet {
  filters: string | null;
  count: number;
}
/** SET_LOGGING_OUTPUTS / SET_LOGGING_FILTERS args (null: back to the default). */
export interface SetLoggingArgs {
  value: string | null;
  flags: number;
}
/** SET_DAEMON_TIMEOUT args. */
export interface DaemonTimeoutArgs {
  timeout: number;
  flags: number;
}

// --- pieces -------------------------------------------------------------------------------
// Decoders throw XdrDecodeError (or RangeError for an unknown typed-parameter type); trailing bytes are
// accepted, as by libvirt's virNetMessageDecodePayload.

const readString = (r: XdrReader): string => r.string(ADMIN_STRING_MAX);

function writeClient(w: XdrWriter, c: AdminClientRef): void {
  w.string(c.server).u64(c.id).i64(c.timestamp).u32(c.transport);
}

function readClient(r: XdrReader): AdminClientRef {
  return { server: readString(r), id: r.u64(), timestamp: r.i64(), transport: r.u32() };
}

function readArray<T>(r: XdrReader, max: number, read: (r: XdrReader) => T): T[] {
  const n = r.u32();
  if (n > max) throw new RangeError(`array of ${n} entries exceeds the maximum of ${max}`);
  const items: T[] = [];
  for (let i = 0; i < n; i++) items.push(read(r));
  return items;
}

const writer = (): XdrWriter => new XdrWriter(64);

// --- args ---------------------------------------------------------------------------------

/** Encodes flags-only args. */
export function encodeFlagsArgs(a: FlagsArgs): Buffer {
  return writer().u32(a.flags).finish();
}
/** Decodes flags-only args. */
export function decodeFlagsArgs(p: Buffer): FlagsArgs {
  return { flags: new XdrReader(p).u32() };
}

/** Encodes LIST_SERVERS args. */
export function encodeListServersArgs(a: ListServersArgs): Buffer {
  return writer().u32(a.needResults).u32(a.flags).finish();
}
/** Decodes LIST_SERVERS args. */
export function decodeListServersArgs(p: Buffer): ListServersArgs {
  const r = new XdrReader(p);
  return { needResults: r.u32(), flags: r.u32() };
}

/** Encodes args naming a server. */
export function encodeServerArgs(a: ServerArgs): Buffer {
  return writer().string(a.server).u32(a.flags).finish();
}
/** Decodes args naming a server. */
export function decodeServerArgs(p: Buffer): ServerArgs {
  const r = new XdrReader(p);
  return { server: readString(r), flags: r.u32() };
}

/** Encodes SET_THREADPOOL_PARAMETERS / SET_CLIENT_LIMITS args. */
export function encodeServerParamsArgs(a: ServerParamsArgs): Buffer {
  const w = writer().string(a.server);
  writeTypedParams(w, a.params);
  return w.u32(a.flags).finish();
}
/** Decoder of SET_THREADPOOL_PARAMETERS / SET_CLIENT_LIMITS args, for a list of at most `max` params. */
export function serverParamsArgsDecoder(max: number): (p: Buffer) => ServerParamsArgs {
  return (p) => {
    const r = new XdrReader(p);
    const server = readString(r);
    const params = readTypedParams(r, max, ADMIN_STRING_MAX);
    return { server, params, flags: r.u32() };
  };
}

/** Encodes LIST_CLIENTS args. */
export function encodeListClientsArgs(a: ListClientsArgs): Buffer {
  return writer().string(a.server).u32(a.needResults).u32(a.flags).finish();
}
/** Decodes LIST_CLIENTS args. */
export function decodeListClientsArgs(p: Buffer): ListClientsArgs {
  const r = new XdrReader(p);
  return { server: readString(r), needResults: r.u32(), flags: r.u32() };
}

/** Encodes LOOKUP_CLIENT args. */
export function encodeLookupClientArgs(a: LookupClientArgs): Buffer {
  return writer().string(a.server).u64(a.id).u32(a.flags).finish();
}
/** Decodes LOOKUP_CLIENT args. */
export function decodeLookupClientArgs(p: Buffer): LookupClientArgs {
  const r = new XdrReader(p);
  return { server: readString(r), id: r.u64(), flags: r.u32() };
}

/** Encodes CLIENT_GET_INFO / CLIENT_CLOSE args. */
export function encodeClientArgs(a: ClientArgs): Buffer {
  const w = writer();
  writeClient(w, a.client);
  return w.u32(a.flags).finish();
}
/** Decodes CLIENT_GET_INFO / CLIENT_CLOSE args. */
export function decodeClientArgs(p: Buffer): ClientArgs {
  const r = new XdrReader(p);
  return { client: readClient(r), flags: r.u32() };
}

/** Encodes SET_LOGGING_OUTPUTS / SET_LOGGING_FILTERS args. */
export function encodeSetLoggingArgs(a: SetLoggingArgs): Buffer {
  return writer()
    .optional(a.value, (w, v) => w.string(v))
    .u32(a.flags)
    .finish();
}
/** Decodes SET_LOGGING_OUTPUTS / SET_LOGGING_FILTERS args. */
export function decodeSetLoggingArgs(p: Buffer): SetLoggingArgs {
  const r = new XdrReader(p);
  return { value: r.optional(readString), flags: r.u32() };
}

/** Encodes SET_DAEMON_TIMEOUT args. */
export function encodeDaemonTimeoutArgs(a: DaemonTimeoutArgs): Buffer {
  return writer().u32(a.timeout).u32(a.flags).finish();
}
/** Decodes SET_DAEMON_TIMEOUT args. */
export function decodeDaemonTimeoutArgs(p: Buffer): DaemonTimeoutArgs {
  const r = new XdrReader(p);
  return { timeout: r.u32(), flags: r.u32() };
}

/** Decodes an empty args struct (CONNECT_CLOSE, GET_LIB_VERSION). */
export function decodeNoArgs(): null {
  return null;
}

// --- replies ------------------------------------------------------------------------------

/** Encodes the GET_LIB_VERSION reply (major * 1,000,000 + minor * 1,000 + micro). */
export function encodeLibVersionRet(version: number): Buffer {
  return writer().u64(version).finish();
}
/** Decodes the GET_LIB_VERSION reply. */
export function decodeLibVersionRet(p: Buffer): bigint {
  return new XdrReader(p).u64();
}

/** Encodes the LIST_SERVERS reply. */
export function encodeListServersRet(ret: ListServersRet): Buffer {
  const w = writer().u32(ret.servers.length);
  for (const s of ret.servers) w.string(s);
  return w.u32(ret.count).finish();
}
/** Decodes the LIST_SERVERS reply. */
export function decodeListServersRet(p: Buffer): ListServersRet {
  const r = new XdrReader(p);
  const servers = readArray(r, ADMIN_SERVER_LIST_MAX, readString);
  return { servers, count: r.u32() };
}

/** Encodes the LOOKUP_SERVER reply. */
export function encodeServerRet(name: string): Buffer {
  return writer().string(name).finish();
}
/** Decodes the LOOKUP_SERVER reply. */
export function decodeServerRet(p: Buffer): string {
  return readString(new XdrReader(p));
}

/** Encodes a reply that is a typed-parameter list (threadpool, client info, client limits). */
export function encodeParamsRet(params: readonly TypedParam[]): Buffer {
  const w = writer();
  writeTypedParams(w, params);
  return w.finish();
}
/** Decodes a typed-parameter list reply of at most `max` entries. */
export function decodeParamsRet(p: Buffer, max: number): TypedParam[] {
  return readTypedParams(new XdrReader(p), max, ADMIN_STRING_MAX);
}

/** Encodes the LIST_CLIENTS reply. */
export function encodeListClientsRet(ret: ListClientsRet): Buffer {
  const w = writer().u32(ret.clients.length);
  for (const c of ret.clients) writeClient(w, c);
  return w.u32(ret.count).finish();
}
/** Decodes the LIST_CLIENTS reply. */
export function decodeListClientsRet(p: Buffer): ListClientsRet {
  const r = new XdrReader(p);
  const clients = readArray(r, ADMIN_CLIENT_LIST_MAX, readClient);
  return { clients, count: r.u32() };
}

/** Encodes the LOOKUP_CLIENT reply. */
export function encodeClientRet(client: AdminClientRef): Buffer {
  const w = writer();
  writeClient(w, client);
  return w.finish();
}
/** Decodes the LOOKUP_CLIENT reply. */
export function decodeClientRet(p: Buffer): AdminClientRef {
  return readClient(new XdrReader(p));
}

/** Encodes the GET_LOGGING_OUTPUTS reply. */
export function encodeLoggingOutputsRet(ret: LoggingOutputsRet): Buffer {
  return writer().string(ret.outputs).u32(ret.count).finish();
}
/** Decodes the GET_LOGGING_OUTPUTS reply. */
export function decodeLoggingOutputsRet(p: Buffer): LoggingOutputsRet {
  const r = new XdrReader(p);
  return { outputs: readString(r), count: r.u32() };
}

/** Encodes the GET_LOGGING_FILTERS reply. */
export function encodeLoggingFiltersRet(ret: LoggingFiltersRet): Buffer {
  return writer()
    .optional(ret.filters, (w, v) => w.string(v))
    .u32(ret.count)
    .finish();
}
/** Decodes the GET_LOGGING_FILTERS reply. */
export function decodeLoggingFiltersRet(p: Buffer): LoggingFiltersRet {
  const r = new XdrReader(p);
  return { filters: r.optional(readString), count: r.u32() };
}

// --- procedure table ----------------------------------------------------------------------

/** Encodes an empty args struct (CONNECT_CLOSE, GET_LIB_VERSION). */
export function encodeNoArgs(): Buffer {
  return Buffer.alloc(0);
}

/** Decoded args type of each procedure. */
export interface AdminProcedureArgs {
  [AdminProcedure.CONNECT_OPEN]: FlagsArgs;
  [AdminProcedure.CONNECT_CLOSE]: null;
  [AdminProcedure.CONNECT_GET_LIB_VERSION]: null;
  [AdminProcedure.CONNECT_LIST_SERVERS]: ListServersArgs;
  [AdminProcedure.CONNECT_LOOKUP_SERVER]: ServerArgs;
  [AdminProcedure.SERVER_GET_THREADPOOL_PARAMETERS]: ServerArgs;
  [AdminProcedure.SERVER_SET_THREADPOOL_PARAMETERS]: ServerParamsArgs;
  [AdminProcedure.SERVER_LIST_CLIENTS]: ListClientsArgs;
  [AdminProcedure.SERVER_LOOKUP_CLIENT]: LookupClientArgs;
  [AdminProcedure.CLIENT_GET_INFO]: ClientArgs;
  [AdminProcedure.CLIENT_CLOSE]: ClientArgs;
  [AdminProcedure.SERVER_GET_CLIENT_LIMITS]: ServerArgs;
  [AdminProcedure.SERVER_SET_CLIENT_LIMITS]: ServerParamsArgs;
  [AdminProcedure.CONNECT_GET_LOGGING_OUTPUTS]: FlagsArgs;
  [AdminProcedure.CONNECT_GET_LOGGING_FILTERS]: FlagsArgs;
  [AdminProcedure.CONNECT_SET_LOGGING_OUTPUTS]: SetLoggingArgs;
  [AdminProcedure.CONNECT_SET_LOGGING_FILTERS]: SetLoggingArgs;
  [AdminProcedure.SERVER_UPDATE_TLS_FILES]: ServerArgs;
  [AdminProcedure.CONNECT_SET_DAEMON_TIMEOUT]: DaemonTimeoutArgs;
}

/** One row of the admin program's table. */
export interface AdminProcedureEntry<P extends AdminProcedure = AdminProcedure> extends FlagRule {
  readonly proc: P;
  /** libvirt's CamelCase procedure name, e.g. `ServerListClients`. */
  readonly name: string;
  /** Decodes the call payload. @throws XdrDecodeError */
  decode(payload: Buffer): AdminProcedureArgs[P];
  /** Encodes call args. */
  encode(args: AdminProcedureArgs[P]): Buffer;
}

/** Procedure number -> entry, for every procedure of the admin program. */
export type AdminProcedureTable = { readonly [P in AdminProcedure]: AdminProcedureEntry<P> };

// Every admin_server.c function refuses flags with VIR_FROM_ADMIN, naming itself.
function adminEntry<P extends AdminProcedure>(
  proc: P,
  name: string,
  flagCheck: { functionName: string; allowedFlags: number } | null,
  decode: (payload: Buffer) => AdminProcedureArgs[P],
  encode: (args: AdminProcedureArgs[P]) => Buffer,
): AdminProcedureEntry<P> {
  // Without a flag check no error names a function; the row still names libvirt's generated dispatcher.
  const functionName = flagCheck?.functionName ?? `adminDispatch${name}`;
  return Object.freeze({ proc, name, functionName, allowedFlags: flagCheck?.allowedFlags ?? null, flagErrorDomain: VirErrorDomain.ADMIN, decode, encode });
}

/** virCheckFlags(0, …) in the named function: no flag is accepted. */
const noFlagsIn = (functionName: string): { functionName: string; allowedFlags: number } => ({ functionName, allowedFlags: 0 });

/**
 * The admin program's procedures as libvirt 9.0 serves them. Procedures without a flag check: CONNECT_CLOSE
 * and GET_LIB_VERSION have no flags; LOOKUP_SERVER checks its flags against themselves
 * (virCheckFlags(flags, NULL)), so any value passes.
 */
export const ADMIN_PROCEDURES: AdminProcedureTable = Object.freeze({
  [AdminProcedure.CONNECT_OPEN]: adminEntry(AdminProcedure.CONNECT_OPEN, 'ConnectOpen', noFlagsIn('adminDispatchConnectOpen'), decodeFlagsArgs, encodeFlagsArgs),
  [AdminProcedure.CONNECT_CLOSE]: adminEntry(AdminProcedure.CONNECT_CLOSE, 'ConnectClose', null, decodeNoArgs, encodeNoArgs),
  [AdminProcedure.CONNECT_GET_LIB_VERSION]: adminEntry(AdminProcedure.CONNECT_GET_LIB_VERSION, 'ConnectGetLibVersion', null, decodeNoArgs, encodeNoArgs),
  [AdminProcedure.CONNECT_LIST_SERVERS]: adminEntry(
    AdminProcedure.CONNECT_LIST_SERVERS, 'ConnectListServers', noFlagsIn('adminConnectListServers'), decodeListServersArgs, encodeListServersArgs),
  [AdminProcedure.CONNECT_LOOKUP_SERVER]: adminEntry(AdminProcedure.CONNECT_LOOKUP_SERVER, 'ConnectLookupServer', null, decodeServerArgs, encodeServerArgs),
  [AdminProcedure.SERVER_GET_THREADPOOL_PARAMETERS]: adminEntry(
    AdminProcedure.SERVER_GET_THREADPOOL_PARAMETERS, 'ServerGetThreadpoolParameters', noFlagsIn('adminServerGetThreadPoolParameters'),
    decodeServerArgs, encodeServerArgs),
  [AdminProcedure.SERVER_SET_THREADPOOL_PARAMETERS]: adminEntry(
    AdminProcedure.SERVER_SET_THREADPOOL_PARAMETERS, 'ServerSetThreadpoolParameters', noFlagsIn('adminServerSetThreadPoolParameters'),
    serverParamsArgsDecoder(ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX), encodeServerParamsArgs),
  [AdminProcedure.SERVER_LIST_CLIENTS]: adminEntry(
    AdminProcedure.SERVER_LIST_CLIENTS, 'ServerListClients', noFlagsIn('adminServerListClients'), decodeListClientsArgs, encodeListClientsArgs),
  [AdminProcedure.SERVER_LOOKUP_CLIENT]: adminEntry(
    AdminProcedure.SERVER_LOOKUP_CLIENT, 'ServerLookupClient', noFlagsIn('adminServerLookupClient'), decodeLookupClientArgs, encodeLookupClientArgs),
  [AdminProcedure.CLIENT_GET_INFO]: adminEntry(AdminProcedure.CLIENT_GET_INFO, 'ClientGetInfo', noFlagsIn('adminClientGetInfo'), decodeClientArgs, encodeClientArgs),
  [AdminProcedure.CLIENT_CLOSE]: adminEntry(AdminProcedure.CLIENT_CLOSE, 'ClientClose', noFlagsIn('adminClientClose'), decodeClientArgs, encodeClientArgs),
  [AdminProcedure.SERVER_GET_CLIENT_LIMITS]: adminEntry(
    AdminProcedure.SERVER_GET_CLIENT_LIMITS, 'ServerGetClientLimits', noFlagsIn('adminServerGetClientLimits'), decodeServerArgs, encodeServerArgs),
  [AdminProcedure.SERVER_SET_CLIENT_LIMITS]: adminEntry(
    AdminProcedure.SERVER_SET_CLIENT_LIMITS, 'ServerSetClientLimits', noFlagsIn('adminServerSetClientLimits'),
    serverParamsArgsDecoder(ADMIN_SERVER_CLIENT_LIMITS_MAX), encodeServerParamsArgs),
  [AdminProcedure.CONNECT_GET_LOGGING_OUTPUTS]: adminEntry(
    AdminProcedure.CONNECT_GET_LOGGING_OUTPUTS, 'ConnectGetLoggingOutputs', noFlagsIn('adminConnectGetLoggingOutputs'), decodeFlagsArgs, encodeFlagsArgs),
  [AdminProcedure.CONNECT_GET_LOGGING_FILTERS]: adminEntry(
    AdminProcedure.CONNECT_GET_LOGGING_FILTERS, 'ConnectGetLoggingFilters', noFlagsIn('adminConnectGetLoggingFilters'), decodeFlagsArgs, encodeFlagsArgs),
  [AdminProcedure.CONNECT_SET_LOGGING_OUTPUTS]: adminEntry(
    AdminProcedure.CONNECT_SET_LOGGING_OUTPUTS, 'ConnectSetLoggingOutputs', noFlagsIn('adminConnectSetLoggingOutputs'),
    decodeSetLoggingArgs, encodeSetLoggingArgs),
  [AdminProcedure.CONNECT_SET_LOGGING_FILTERS]: adminEntry(
    AdminProcedure.CONNECT_SET_LOGGING_FILTERS, 'ConnectSetLoggingFilters', noFlagsIn('adminConnectSetLoggingFilters'),
    decodeSetLoggingArgs, encodeSetLoggingArgs),
  [AdminProcedure.SERVER_UPDATE_TLS_FILES]: adminEntry(
    AdminProcedure.SERVER_UPDATE_TLS_FILES, 'ServerUpdateTlsFiles', noFlagsIn('adminServerUpdateTlsFiles'), decodeServerArgs, encodeServerArgs),
  [AdminProcedure.CONNECT_SET_DAEMON_TIMEOUT]: adminEntry(
    AdminProcedure.CONNECT_SET_DAEMON_TIMEOUT, 'ConnectSetDaemonTimeout', noFlagsIn('adminConnectSetDaemonTimeout'),
    decodeDaemonTimeoutArgs, encodeDaemonTimeoutArgs),
});
