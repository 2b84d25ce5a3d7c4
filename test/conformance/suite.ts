// The conformance suite: every behaviour of PROTOCOL.md §5 and §6, runnable against any lock-daemon socket.
// Each test is named after its PROTOCOL.md row; deliberate holdfast differences are named where they apply.
import { after, before, describe } from 'node:test';
import type { DaemonHandle } from '../fixtures/daemon-handle';
import { defineDisconnectChecks } from './checks-disconnect';
import { defineErrorChecks } from './checks-errors';
import { defineOnDiskChecks } from './checks-on-disk';
import { defineRpcChecks } from './checks-rpc';
import { defineSemanticsChecks } from './checks-semantics';
import { ConformanceContext, type ConformanceOptions } from './context';

export type { ConformanceOptions } from './context';

/**
 * Registers the suite's tests (node:test) inside the current describe block, against the daemon that
 * `getTarget` returns when the tests run (so a `before` hook may start it). The run's resource files
 * live in a fresh temp dir, removed afterwards.
 */
export function defineConformanceSuite(getTarget: () => DaemonHandle, opts: ConformanceOptions): void {
  const ctx = new ConformanceContext(getTarget, opts);
  describe(`conformance (${opts.flavor})`, { timeout: ctx.timeoutMs * 40 }, () => {
    before(() => {
      const target = getTarget();
      if (target.flavor !== opts.flavor) {
        throw new Error(`suite configured for ${opts.flavor} but the target is ${target.flavor}`);
      }
    });
    after(() => ctx.removeRoot());

    defineRpcChecks(ctx);
    defineErrorChecks(ctx);
    defineSemanticsChecks(ctx);
    defineOnDiskChecks(ctx);
    defineDisconnectChecks(ctx);
  });
}
