// Each configured etcd endpoint asked on its own (etcd's maintenance status), for `holdfast cluster`: the
// shared client picks whichever endpoint answers, so it cannot say which ones are down. All at once, each
// bounded by the timeout whatever the client's own retries.
import type { ClusterSettings } from '../../shared/cluster/cluster-settings';
import { connectEtcd } from '../../shared/cluster/connect-etcd';
import type { ClusterEndpointHealth } from '../../shared/protocol/operations-program';

/** How long an endpoint has to answer before it counts as unhealthy. */
export const ENDPOINT_HEALTH_TIMEOUT_MS = 1000;

export function endpointHealth(settings: ClusterSettings, timeoutMs = ENDPOINT_HEALTH_TIMEOUT_MS): Promise<ClusterEndpointHealth[]> {
  return Promise.all(settings.endpoints.map((endpoint) => askEndpoint(settings, endpoint, timeoutMs)));
}

async function askEndpoint(settings: ClusterSettings, endpoint: string, timeoutMs: number): Promise<ClusterEndpointHealth> {
  const client = connectEtcd(settings, {
    hosts: [endpoint],
    dialTimeout: timeoutMs,
    defaultCallOptions: () => ({ deadline: Date.now() + timeoutMs }),
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const status = await Promise.race([client.maintenance.status(), timedOut]);
    const alarms = status.errors ?? [];
    return {
      endpoint,
      healthy: alarms.length === 0,
      version: status.version,
      memberId: status.header.member_id,
      leader: status.leader === status.header.member_id,
      error: alarms.length === 0 ? null : alarms.join('; '),
    };
  } catch (err) {
    return { endpoint, healthy: false, version: null, memberId: null, leader: null, error: oneLine((err as Error)?.message ?? String(err)) };
  } finally {
    clearTimeout(timer);
    client.close();
  }
}

// gRPC's messages run on ("... Resolution note: "): one line, without the empty tail, bounded.
function oneLine(message: string): string {
  const line = message.replace(/\s+/g, ' ').replace(/[\s.:]*(Resolution note:)?\s*$/, '').trim();
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}
