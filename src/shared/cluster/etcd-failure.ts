// What a failed etcd call means to an operator. gRPC and OpenSSL say what broke in their own terms ("SSL
// alert number 42", "unable to verify the first certificate; … --use-system-ca"); a misconfigured host says
// so at every retry, so each line should name the setting to look at. Errors not recognised here keep their
// own message, whole.
import type { EtcdConnectionSettings } from './cluster-settings';

/** OpenSSL's and Node's words for a server certificate this client does not trust (or that names another host). */
const SERVER_NOT_TRUSTED = [
  'unable to verify the first certificate',
  'unable to get local issuer certificate',
  'self-signed certificate',
  'self signed certificate',
  'certificate has expired',
  'certificate is not yet valid',
  'does not match certificate',
  "Hostname/IP does not match certificate's altnames",
];
/** TLS alerts a server sends when it refuses (or was not sent) the client's certificate. */
const CLIENT_REFUSED = ['alert bad certificate', 'alert unknown ca', 'alert certificate required', 'alert certificate expired', 'alert certificate unknown', 'alert handshake failure'];
/** What a TLS client reads when the other end does not speak TLS. */
const NOT_TLS = ['wrong version number', 'packet length too long', 'http request'];

/** The underlying message, without gRPC's wrapping ("14 UNAVAILABLE: No connection established. Last error: "). */
function coreMessage(message: string): string {
  return message
    .replace(/^\d+ [A-Z_]+: (No connection established\. Last error: )?/, '')
    .replace(/^Error: /, '')
    // Node's advice is about its own trust store, not holdfast's.
    .replace(/; if the root CA is installed locally, try running Node\.js with --use-system-ca\./, '')
    .replace(/\s*(\(\d{4}-\d\d-\d\dT[^)]*\)\.?\s*)?Resolution note: .*$/s, '')
    .trim();
}

/** One line saying why an etcd call failed, naming the cluster_* setting it points at where it can. */
export function describeEtcdFailure(err: unknown, settings: EtcdConnectionSettings): string {
  const message = err instanceof Error ? err.message : String(err);
  const core = coreMessage(message);
  const has = (words: string[]): boolean => words.some((w) => message.includes(w));
  const { caFile, certFile } = settings.tls;
  if (has(SERVER_NOT_TRUSTED)) {
    const ca = caFile === null ? 'the system\'s trusted CAs (cluster_tls_ca_file is unset)' : `the CA of cluster_tls_ca_file (${caFile})`;
    return `TLS: etcd's server certificate is not trusted by ${ca}: ${core}`;
  }
  if (has(CLIENT_REFUSED)) {
    const cert = certFile === null ? 'this host sent no client certificate (cluster_tls_cert_file is unset)' : `etcd refused the client certificate of cluster_tls_cert_file (${certFile})`;
    return `TLS: ${cert}: ${core}`;
  }
  if (has(NOT_TLS)) return `TLS: the endpoint does not answer in TLS (is it an http:// endpoint?): ${core}`;
  const user = settings.auth;
  // Only ever asked about an etcd call's failure: etcd3 is loaded by then (see connect-etcd.ts).
  const { EtcdAuthenticationFailedError, EtcdPermissionDeniedError } = require('etcd3') as typeof import('etcd3');
  if (err instanceof EtcdAuthenticationFailedError || message.includes('authentication failed, invalid user ID or password')) {
    return user === null
      ? `etcd refused authentication: ${core}`
      : `etcd refused user '${user.username}' with the password of cluster_password_file (${user.passwordFile}): ${core}`;
  }
  if (err instanceof EtcdPermissionDeniedError || message.includes('permission denied')) {
    return user === null
      ? `etcd denied the request: ${core}`
      : `etcd denied user '${user.username}' (it needs readwrite on every key under cluster_key_prefix): ${core}`;
  }
  return message;
}
