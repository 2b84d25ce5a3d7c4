// How every holdfast process builds its etcd client: endpoints, TLS and password from the resolved settings,
// and timeouts short enough that a lost etcd shows up as failed calls within a couple of seconds. The host
// lease must see a failed renewal well before its safe deadline; a call that hangs for etcd3's defaults
// (no deadline at all on a call, gRPC's reconnect backoff growing to two minutes, a host shut out for five
// seconds after three failures) would hide the loss until it is too late to act on it calmly.
import { readFileSync } from 'node:fs';
import { ConsecutiveBreaker, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { GRPCUnavailableError, isRecoverableError, type IOptions } from 'etcd3';
import type { EtcdConnectionSettings } from './cluster-settings';

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

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the etcd TLS ${what} file ${file}: ${(err as Error).message}`);
  }
}

function readPassword(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the etcd password file ${file}: ${(err as Error).message}`);
  }
  // A file written by `echo` or an editor ends with a newline that is not part of the password.
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new Error(`the etcd password file ${file} is empty`);
  return password;
}

function credentialsOf(tls: EtcdConnectionSettings['tls']): IOptions['credentials'] {
  const { caFile, certFile, keyFile } = tls;
  if ((certFile === null) !== (keyFile === null)) {
    throw new Error(`etcd TLS needs both a certificate and its key (certificate: ${certFile ?? 'none'}, key: ${keyFile ?? 'none'})`);
  }
  if (caFile === null && certFile === null) return undefined;
  return {
    // Without a CA file gRPC checks the server against the system's trusted roots.
    rootCertificate: caFile === null ? (undefined as unknown as Buffer) : readPem(caFile, 'CA'),
    ...(certFile !== null ? { certChain: readPem(certFile, 'certificate') } : {}),
    ...(keyFile !== null ? { privateKey: readPem(keyFile, 'key') } : {}),
  };
}

/**
 * etcd3's client options for `settings`. Reads the TLS files and the password file now, so a missing or
 * unreadable file is an Error naming it here rather than a failed handshake later.
 */
export function etcdClientOptions(settings: EtcdConnectionSettings): IOptions {
  const credentials = credentialsOf(settings.tls);
  return {
    hosts: [...settings.endpoints],
    ...(credentials !== undefined ? { credentials } : {}),
    ...(settings.auth !== null ? { auth: { username: settings.auth.username, password: readPassword(settings.auth.passwordFile) } } : {}),
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
