// How every holdfast process builds its etcd client: endpoints, TLS and password from the resolved settings,
// and timeouts short enough that a lost etcd shows up as failed calls within a couple of seconds. The host
// lease must see a failed renewal well before its safe deadline; a call that hangs for etcd3's defaults
// (no deadline at all on a call, gRPC's reconnect backoff growing to two minutes, a host shut out for five
// seconds after three failures) would hide the loss until it is too late to act on it calmly.
import { ConsecutiveBreaker, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { GRPCUnavailableError, isRecoverableError, type IOptions } from 'etcd3';
import type { EtcdConnectionSettings } from './cluster-settings';
import { readEtcdFiles, type EtcdFiles } from './etcd-files';

/**
 * The deadline of every unary etcd call. etcd3 does not act on its `dialTimeout` option, so this deadline also
 * bounds the wait for a connection: a partitioned or stopped etcd fails the call after this long.
 */
export const ETCD_REQUEST_TIMEOUT_MS = 1_500;
/** gRPC's reconnect backoff tops out here, so a member that comes back is reached within about a second. */
const RECONNECT_BACKOFF_MAX_MS = 1_000;
/** A member that failed this many calls in a row is skipped for HOST_SKIP_MS (then tried with one call). */
const HOST_FAILURES_BEFORE_SKIP = 3;
const HOST_SKIP_MS = 1_000;
/**
 * Retries of one call on another member when a member is unreachable (connection refused, reset): those fail
 * at once. A call that ran out its deadline is not retried (etcd3's default retries it, each attempt with a
 * deadline of its own, which would make a frozen etcd answer in four deadlines instead of one).
 */
const CALL_RETRIES = 3;

function credentialsOf(tls: EtcdConnectionSettings['tls'], files: EtcdFiles): IOptions['credentials'] {
  const { certFile, keyFile } = tls;
  if ((certFile === null) !== (keyFile === null)) {
    throw new Error(`etcd TLS needs both a certificate and its key (certificate: ${certFile ?? 'none'}, key: ${keyFile ?? 'none'})`);
  }
  if (files.ca === null && files.cert === null) return undefined;
  return {
    // Without a CA file gRPC checks the server against the system's trusted roots.
    rootCertificate: files.ca ?? (undefined as unknown as Buffer),
    ...(files.cert !== null ? { certChain: files.cert } : {}),
    ...(files.key !== null ? { privateKey: files.key } : {}),
  };
}

/**
 * etcd3's client options for `settings`. Reads the TLS files and the password file now, so a missing or
 * unreadable file is an {@link EtcdFileError} naming it here rather than a failed handshake later.
 */
export function etcdClientOptions(settings: EtcdConnectionSettings): IOptions {
  const files = readEtcdFiles(settings);
  const credentials = credentialsOf(settings.tls, files);
  return {
    hosts: [...settings.endpoints],
    ...(credentials !== undefined ? { credentials } : {}),
    ...(settings.auth !== null && files.password !== null ? { auth: { username: settings.auth.username, password: files.password } } : {}),
    // Streams (watches, keepalives) live on: their users bound each request they make on them.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ETCD_REQUEST_TIMEOUT_MS }),
    grpcOptions: {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': RECONNECT_BACKOFF_MAX_MS,
    },
    faultHandling: {
      host: () => circuitBreaker(handleWhen(isRecoverableError), {
        halfOpenAfter: HOST_SKIP_MS,
        breaker: new ConsecutiveBreaker(HOST_FAILURES_BEFORE_SKIP),
      }),
      global: retry(handleWhen((err) => err instanceof GRPCUnavailableError), { maxAttempts: CALL_RETRIES }),
    },
  };
}
