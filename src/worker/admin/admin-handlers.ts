// One small handler per procedure of libvirt's admin program, as virtlockd answers them. Which flags each
// accepts and the function its refusal names come from the admin program's table (ADMIN_PROCEDURES); each
// handler checks them where libvirt does (some look the server up first). Handlers throw VirError; the
// program layer (worker/rpc/program.ts) turns the first error into the reply.
import type { Logger } from 'pino';
import { LogSpecError, formatLogOutputs, parseLogFilters, parseLogOutputs } from '../../shared/platform/log-spec';
import { getLogSettings, setFilters } from '../../shared/platform/log';
import {
  ADMIN_PROCEDURES,
  AdminClientRef,
  AdminProcedure,
  AdminProcedureArgs,
  ClientInfoParam,
  ClientLimitParam,
  ClientTransport,
  ThreadpoolParam,
  encodeClientRet,
  encodeLibVersionRet,
  encodeListClientsRet,
  encodeListServersRet,
  encodeLoggingFiltersRet,
  encodeLoggingOutputsRet,
  encodeParamsRet,
  encodeServerRet,
} from '../../shared/protocol/admin-program';
import { checkFlags } from '../../shared/protocol/flag-check';
import { TypedParam, TypedParamType, findTypedParam, typedParam, validateTypedParams } from '../../shared/protocol/typed-params';
import { VirError, VirErrorCode, VirErrorDomain } from '../../shared/protocol/vir-error';
import { LIBVIRT_VERSION_NUMBER } from '../../shared/platform/version';
import type { Connection } from '../rpc/connection';
import { groupName, userName } from './account-names';

/** What the admin service needs of one RPC server (RpcServer provides it). */
export interface AdminServerTarget {
  readonly connections: ReadonlyMap<number, Connection>;
  readonly maxClients: number;
  /** Changes max_clients at run time: accepting pauses at the new limit and resumes below it. */
  setMaxClients(n: number): void;
}

/** One admin request: the asking connection, and whether to close it once the reply is out (CONNECT_CLOSE). */
export interface AdminRequest {
  connection: Connection;
  closeAfterReply: boolean;
}

/** A server as virt-admin sees it. */
export interface AdminServer {
  target: AdminServerTarget;
  /**
   * max_anonymous_clients: virtlockd has no authentication, so this limit never bites, but virt-admin shows
   * and sets it, and libvirt refuses one above max_clients.
   */
  unauthMax: number;
}

/** What every handler may use. */
export interface AdminContext {
  /** The servers by name ("virtlockd", "admin"). */
  readonly servers: ReadonlyMap<string, AdminServer>;
  /** The process's root logger: log settings are read from and applied to it. */
  readonly rootLog: Logger;
  /** The admin service's own logger. */
  readonly log: Logger;
}

export type AdminHandler<P extends AdminProcedure> = (ctx: AdminContext, request: AdminRequest, args: AdminProcedureArgs[P]) => Buffer | void;

// Every admin_server.c function reports with VIR_FROM_ADMIN; virnetdaemon.c/virnetserver.c lookups with RPC.
const ADMIN = VirErrorDomain.ADMIN;

// --- lookups -----------------------------------------------------------------------------------

/** virNetDaemonGetServer: RPC-domain NO_SERVER. */
function server(ctx: AdminContext, name: string): AdminServer {
  const entry = ctx.servers.get(name);
  if (!entry) throw VirError.report(VirErrorCode.NO_SERVER, VirErrorDomain.RPC, `No server named '${name}'`);
  return entry;
}

/** The dispatch functions that report a missing server themselves, in the ADMIN domain. */
function serverForDispatch(ctx: AdminContext, name: string): AdminServer {
  const entry = ctx.servers.get(name);
  if (!entry) throw VirError.report(VirErrorCode.NO_SERVER, ADMIN, `no server with matching name '${name}' found`);
  return entry;
}

/** virNetServerGetClient: RPC-domain NO_CLIENT. */
function client(entry: AdminServer, id: bigint): Connection {
  const connection = findConnection(entry, id);
  if (!connection) throw VirError.report(VirErrorCode.NO_CLIENT, VirErrorDomain.RPC, `No client with matching ID '${id}'`);
  return connection;
}

function findConnection(entry: AdminServer, id: bigint): Connection | undefined {
  return id <= BigInt(Number.MAX_SAFE_INTEGER) ? entry.target.connections.get(Number(id)) : undefined;
}

function clientRef(serverName: string, connection: Connection): AdminClientRef {
  return {
    server: serverName,
    id: BigInt(connection.id),
    timestamp: BigInt(Math.floor(connection.connectedAt / 1000)),
    transport: ClientTransport.UNIX,
  };
}

const entries = (spec: string): string[] => spec.split(' ').filter((e) => e !== '');

// --- handlers ----------------------------------------------------------------------------------

const connectOpen: AdminHandler<AdminProcedure.CONNECT_OPEN> = (_ctx, _req, a) => checkFlags(ADMIN_PROCEDURES[AdminProcedure.CONNECT_OPEN], a.flags);

const connectClose: AdminHandler<AdminProcedure.CONNECT_CLOSE> = (_ctx, req) => {
  // virNetServerClientDelayedClose: answer, then hang up.
  req.closeAfterReply = true;
};

const connectGetLibVersion: AdminHandler<AdminProcedure.CONNECT_GET_LIB_VERSION> = () => encodeLibVersionRet(LIBVIRT_VERSION_NUMBER);

const connectListServers: AdminHandler<AdminProcedure.CONNECT_LIST_SERVERS> = (ctx, _req, a) => {
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.CONNECT_LIST_SERVERS], a.flags);
  const names = [...ctx.servers.keys()].sort();
  // need_results is a yes/no: virt-admin sends 1 and expects every server.
  return encodeListServersRet({ servers: a.needResults > 0 ? names : [], count: names.length });
};

const connectLookupServer: AdminHandler<AdminProcedure.CONNECT_LOOKUP_SERVER> = (ctx, _req, a) => {
  // No flag check: libvirt 9.0 checks these flags against themselves, so any value passes.
  server(ctx, a.server);
  return encodeServerRet(a.server);
};

const serverGetThreadpoolParameters: AdminHandler<AdminProcedure.SERVER_GET_THREADPOOL_PARAMETERS> = (ctx, _req, a) => {
  server(ctx, a.server);
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.SERVER_GET_THREADPOOL_PARAMETERS], a.flags);
  return encodeParamsRet(threadpoolParams());
};

const serverSetThreadpoolParameters: AdminHandler<AdminProcedure.SERVER_SET_THREADPOOL_PARAMETERS> = (ctx, _req, a) => {
  serverForDispatch(ctx, a.server);
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.SERVER_SET_THREADPOOL_PARAMETERS], a.flags);
  setThreadpoolParams(a.params);
};

const serverListClients: AdminHandler<AdminProcedure.SERVER_LIST_CLIENTS> = (ctx, _req, a) => {
  const entry = server(ctx, a.server);
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.SERVER_LIST_CLIENTS], a.flags);
  const clients = [...entry.target.connections.values()].sort((x, y) => x.id - y.id).map((c) => clientRef(a.server, c));
  return encodeListClientsRet({ clients: a.needResults > 0 ? clients : [], count: clients.length });
};

const serverLookupClient: AdminHandler<AdminProcedure.SERVER_LOOKUP_CLIENT> = (ctx, _req, a) => {
  const entry = server(ctx, a.server);
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.SERVER_LOOKUP_CLIENT], a.flags);
  return encodeClientRet(clientRef(a.server, client(entry, a.id)));
};

const clientGetInfo: AdminHandler<AdminProcedure.CLIENT_GET_INFO> = (ctx, _req, a) => {
  const entry = serverForDispatch(ctx, a.client.server);
  const connection = findConnection(entry, a.client.id);
  if (!connection) throw VirError.report(VirErrorCode.NO_CLIENT, ADMIN, `no client with matching id '${a.client.id}' found`);
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.CLIENT_GET_INFO], a.flags);
  return encodeParamsRet(clientInfo(connection));
};

const clientClose: AdminHandler<AdminProcedure.CLIENT_CLOSE> = (ctx, _req, a) => {
  const entry = server(ctx, a.client.server);
  const connection = client(entry, a.client.id);
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.CLIENT_CLOSE], a.flags);
  // Exactly what the peer hanging up would do: on the lock server the disconnect rule runs (the owner's
  // locks are released and the owner killed, only if this connection's pid is the owner's) and nothing else.
  ctx.log.info({ server: a.client.server, client: connection.id, peerPid: connection.peer.pid }, 'closing a client on request of an admin client');
  connection.close('server');
};

const serverGetClientLimits: AdminHandler<AdminProcedure.SERVER_GET_CLIENT_LIMITS> = (ctx, _req, a) => {
  const entry = server(ctx, a.server);
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.SERVER_GET_CLIENT_LIMITS], a.flags);
  return encodeParamsRet([
    typedParam.uint(ClientLimitParam.MAX, entry.target.maxClients),
    typedParam.uint(ClientLimitParam.CURRENT, entry.target.connections.size),
    typedParam.uint(ClientLimitParam.UNAUTH_MAX, entry.unauthMax),
    // No authentication step: nobody is ever waiting for it.
    typedParam.uint(ClientLimitParam.UNAUTH_CURRENT, 0),
  ]);
};

const serverSetClientLimits: AdminHandler<AdminProcedure.SERVER_SET_CLIENT_LIMITS> = (ctx, _req, a) => {
  const entry = serverForDispatch(ctx, a.server);
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.SERVER_SET_CLIENT_LIMITS], a.flags);
  setClientLimits(entry, a.params);
};

const connectGetLoggingOutputs: AdminHandler<AdminProcedure.CONNECT_GET_LOGGING_OUTPUTS> = (ctx, _req, a) => {
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.CONNECT_GET_LOGGING_OUTPUTS], a.flags);
  const outputs = getLogSettings(ctx.rootLog).outputs;
  return encodeLoggingOutputsRet({ outputs, count: entries(outputs).length });
};

const connectGetLoggingFilters: AdminHandler<AdminProcedure.CONNECT_GET_LOGGING_FILTERS> = (ctx, _req, a) => {
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.CONNECT_GET_LOGGING_FILTERS], a.flags);
  const filters = parseLogFilters(getLogSettings(ctx.rootLog).filters);
  // virtlockd prints each filter as its glob ("*match*") followed by a space.
  const text = filters.map((f) => `${f.priority}:*${f.match}* `).join('');
  return encodeLoggingFiltersRet({ filters: filters.length > 0 ? text : null, count: filters.length });
};

const connectSetLoggingOutputs: AdminHandler<AdminProcedure.CONNECT_SET_LOGGING_OUTPUTS> = (ctx, _req, a) => {
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.CONNECT_SET_LOGGING_OUTPUTS], a.flags);
  const wanted = a.value ?? '';
  for (const entry of entries(wanted)) {
    try {
      parseLogOutputs(entry);
    } catch (err) {
      if (err instanceof LogSpecError) throw VirError.invalidArg(`Malformed format for log output '${entry}'`, VirErrorDomain.NONE);
      throw err;
    }
  }
  // pino's destinations are fixed when the logger is made: only the current outputs can be "set" again.
  const current = getLogSettings(ctx.rootLog).outputs;
  if (wanted !== '' && formatLogOutputs(parseLogOutputs(wanted)) === current) return;
  throw VirError.report(
    VirErrorCode.OPERATION_UNSUPPORTED,
    ADMIN,
    'holdfast cannot change log outputs at run time; set log_outputs in the configuration and restart',
  );
};

const connectSetLoggingFilters: AdminHandler<AdminProcedure.CONNECT_SET_LOGGING_FILTERS> = (ctx, _req, a) => {
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.CONNECT_SET_LOGGING_FILTERS], a.flags);
  const wanted = a.value ?? '';
  for (const entry of entries(wanted)) {
    try {
      parseLogFilters(entry);
    } catch (err) {
      if (err instanceof LogSpecError) throw VirError.invalidArg(`Malformed format for filter '${entry}'`, VirErrorDomain.NONE);
      throw err;
    }
  }
  setFilters(ctx.rootLog, wanted);
  ctx.log.info({ filters: wanted }, 'log filters changed by an admin client');
};

const serverUpdateTlsFiles: AdminHandler<AdminProcedure.SERVER_UPDATE_TLS_FILES> = (ctx, _req, a) => {
  server(ctx, a.server);
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.SERVER_UPDATE_TLS_FILES], a.flags);
  throw VirError.internalError('no tls service found, unable to update tls files');
};

const connectSetDaemonTimeout: AdminHandler<AdminProcedure.CONNECT_SET_DAEMON_TIMEOUT> = (_ctx, _req, a) => {
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.CONNECT_SET_DAEMON_TIMEOUT], a.flags);
  // The idle timeout belongs to the supervisor (holdfastd --timeout), which the worker cannot reconfigure.
  throw VirError.report(VirErrorCode.OPERATION_UNSUPPORTED, ADMIN, 'holdfast sets its idle timeout with holdfastd --timeout only');
};

/** Handlers by procedure number, for the program table. */
export const ADMIN_HANDLERS: { readonly [P in AdminProcedure]: AdminHandler<P> } = {
  [AdminProcedure.CONNECT_OPEN]: connectOpen,
  [AdminProcedure.CONNECT_CLOSE]: connectClose,
  [AdminProcedure.CONNECT_GET_LIB_VERSION]: connectGetLibVersion,
  [AdminProcedure.CONNECT_LIST_SERVERS]: connectListServers,
  [AdminProcedure.CONNECT_LOOKUP_SERVER]: connectLookupServer,
  [AdminProcedure.SERVER_GET_THREADPOOL_PARAMETERS]: serverGetThreadpoolParameters,
  [AdminProcedure.SERVER_SET_THREADPOOL_PARAMETERS]: serverSetThreadpoolParameters,
  [AdminProcedure.SERVER_LIST_CLIENTS]: serverListClients,
  [AdminProcedure.SERVER_LOOKUP_CLIENT]: serverLookupClient,
  [AdminProcedure.CLIENT_GET_INFO]: clientGetInfo,
  [AdminProcedure.CLIENT_CLOSE]: clientClose,
  [AdminProcedure.SERVER_GET_CLIENT_LIMITS]: serverGetClientLimits,
  [AdminProcedure.SERVER_SET_CLIENT_LIMITS]: serverSetClientLimits,
  [AdminProcedure.CONNECT_GET_LOGGING_OUTPUTS]: connectGetLoggingOutputs,
  [AdminProcedure.CONNECT_GET_LOGGING_FILTERS]: connectGetLoggingFilters,
  [AdminProcedure.CONNECT_SET_LOGGING_OUTPUTS]: connectSetLoggingOutputs,
  [AdminProcedure.CONNECT_SET_LOGGING_FILTERS]: connectSetLoggingFilters,
  [AdminProcedure.SERVER_UPDATE_TLS_FILES]: serverUpdateTlsFiles,
  [AdminProcedure.CONNECT_SET_DAEMON_TIMEOUT]: connectSetDaemonTimeout,
};

// --- what the handlers compute -------------------------------------------------------------------

/**
 * The worker dispatches every call in its one event loop, as virtlockd does with max_workers = 0: no pool,
 * so every number is 0 — the same answer virtlockd gives.
 */
function threadpoolParams(): TypedParam[] {
  return [
    typedParam.uint(ThreadpoolParam.MIN_WORKERS, 0),
    typedParam.uint(ThreadpoolParam.MAX_WORKERS, 0),
    typedParam.uint(ThreadpoolParam.WORKERS, 0),
    typedParam.uint(ThreadpoolParam.FREE_WORKERS, 0),
    typedParam.uint(ThreadpoolParam.PRIO_WORKERS, 0),
    typedParam.uint(ThreadpoolParam.JOB_QUEUE_DEPTH, 0),
  ];
}

/** Accepts only what leaves a pool-less server pool-less, with virthreadpool.c's refusals (domain NONE). */
function setThreadpoolParams(params: readonly TypedParam[]): void {
  validateTypedParams(params, {
    [ThreadpoolParam.MIN_WORKERS]: TypedParamType.UINT,
    [ThreadpoolParam.MAX_WORKERS]: TypedParamType.UINT,
    [ThreadpoolParam.PRIO_WORKERS]: TypedParamType.UINT,
  });
  const value = (field: string): number | null => {
    const p = findTypedParam(params, field);
    return p && p.type === TypedParamType.UINT ? p.value : null;
  };
  const min = value(ThreadpoolParam.MIN_WORKERS);
  const max = value(ThreadpoolParam.MAX_WORKERS);
  if (min !== null && min > (max ?? 0)) throw VirError.invalidArg('minWorkers cannot be larger than maxWorkers', VirErrorDomain.NONE);
  if (max !== null && max !== 0) {
    throw VirError.invalidArg('maxWorkers must not be switched from zero to non-zero and vice versa', VirErrorDomain.NONE);
  }
  // prioWorkers: virtlockd accepts any value and still reports 0 afterwards [observed]; so does holdfast.
}

/** virNetServerSetClientLimits: both limits are checked together before either changes. */
function setClientLimits(entry: AdminServer, params: readonly TypedParam[]): void {
  validateTypedParams(params, { [ClientLimitParam.MAX]: TypedParamType.UINT, [ClientLimitParam.UNAUTH_MAX]: TypedParamType.UINT });
  const max = findTypedParam(params, ClientLimitParam.MAX);
  const unauth = findTypedParam(params, ClientLimitParam.UNAUTH_MAX);
  const newMax = max?.type === TypedParamType.UINT ? max.value : entry.target.maxClients;
  const newUnauth = unauth?.type === TypedParamType.UINT ? unauth.value : entry.unauthMax;
  if (newUnauth > newMax) {
    throw VirError.invalidArg(
      'The overall maximum number of clients waiting for authentication must not be less than the overall maximum number of clients',
      VirErrorDomain.RPC,
    );
  }
  entry.unauthMax = newUnauth;
  if (newMax !== entry.target.maxClients) entry.target.setMaxClients(newMax);
}

/** What virtlockd reports for a local (unix socket) client: its SO_PEERCRED identity, never read-only. */
function clientInfo(connection: Connection): TypedParam[] {
  const { uid, gid, pid } = connection.peer;
  const params: TypedParam[] = [typedParam.boolean(ClientInfoParam.READONLY, false), typedParam.int(ClientInfoParam.UNIX_USER_ID, uid)];
  const user = userName(uid);
  if (user !== null) params.push(typedParam.string(ClientInfoParam.UNIX_USER_NAME, user));
  params.push(typedParam.int(ClientInfoParam.UNIX_GROUP_ID, gid));
  const group = groupName(gid);
  if (group !== null) params.push(typedParam.string(ClientInfoParam.UNIX_GROUP_NAME, group));
  params.push(typedParam.int(ClientInfoParam.UNIX_PROCESS_ID, pid));
  return params;
}
