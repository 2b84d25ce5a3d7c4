// Runs the conformance suite against the real libvirt virtlockd (/usr/sbin/virtlockd), started on private
// sockets by the virtlockd fixture. Fails with an install hint if virtlockd is missing.
import { mkdtempSync, rmSync } from 'node:fs';
import { after, before, describe } from 'node:test';
import type { DaemonHandle } from '../fixtures/daemon-handle';
import { startVirtlockd } from '../fixtures/virtlockd-daemon';
import { defineConformanceSuite } from './suite';

describe('virtlockd', () => {
  let daemon: DaemonHandle | undefined;
  let dir: string | undefined;
  before(async () => {
    dir = mkdtempSync('/tmp/virtlockd-conformance-');
    daemon = await startVirtlockd({ dir });
  });
  after(async () => {
    await daemon?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  defineConformanceSuite(() => {
    if (!daemon) throw new Error('virtlockd did not start (see the before hook)');
    return daemon;
  }, { flavor: 'virtlockd' });
});
