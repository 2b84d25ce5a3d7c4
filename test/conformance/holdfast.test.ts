// Runs the conformance suite against the real holdfastd (supervisor + worker), started on a private
// run dir by the holdfast fixture.
import { mkdtempSync, rmSync } from 'node:fs';
import { after, before, describe } from 'node:test';
import type { DaemonHandle } from '../fixtures/daemon-handle';
import { startHoldfast } from '../fixtures/holdfast-daemon';
import { defineConformanceSuite } from './suite';

describe('holdfast', () => {
  let daemon: DaemonHandle | undefined;
  let dir: string | undefined;
  before(async () => {
    dir = mkdtempSync('/tmp/holdfast-conformance-');
    daemon = await startHoldfast({ dir });
  });
  after(async () => {
    await daemon?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  defineConformanceSuite(() => {
    if (!daemon) throw new Error('holdfastd did not start (see the before hook)');
    return daemon;
  }, { flavor: 'holdfast' });
});
