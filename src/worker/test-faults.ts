// Test-only fault hooks, read from the environment once. They let the adversarial suite make a worker
// fail in ways no well-formed request can any more: a commit that throws, as an oversized one once did,
// killing every worker that took it up; and a request that never finishes (a wedged worker). Unset in
// production.
import { existsSync } from 'node:fs';
import type { Change } from './custody-link';

/** A commit putting a resource whose path is this throws, the way an oversized commit did. */
const POISON_PATH = process.env.HOLDFASTD_TEST_POISON_RESOURCE || null;
/** An ACQUIRE of this resource name spins forever. */
const WEDGE_NAME = process.env.HOLDFASTD_TEST_WEDGE_RESOURCE || null;
/** While this file exists, a cluster hold etcd has committed is not taken up (a worker can be killed there). */
const CLUSTER_GATE = process.env.HOLDFASTD_TEST_CLUSTER_GATE || null;

/** Throws if a change would take the poison resource into custody (test only). */
export function testFaultInCommit(changes: readonly Change[]): void {
  if (POISON_PATH === null) return;
  for (const change of changes) {
    if (change.op === 'put' && change.record.kind === 'resource' && change.record.path === POISON_PATH) {
      throw new Error('test fault: a commit that cannot be sent');
    }
  }
}

/** Waits while the cluster gate file exists (test only; resolves at once when unset). */
export async function testClusterGate(): Promise<void> {
  if (CLUSTER_GATE === null) return;
  while (existsSync(CLUSTER_GATE)) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Never returns for the wedge resource (test only). */
export function testFaultInAcquire(name: string): void {
  if (WEDGE_NAME === null || name !== WEDGE_NAME) return;
  for (;;) {
    // An endless loop, as a bug could make one.
  }
}
