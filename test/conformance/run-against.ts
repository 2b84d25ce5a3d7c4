// CLI: runs the conformance suite against an already-running lock daemon.
//   node dist/test/conformance/run-against.js --socket PATH --flavor virtlockd|holdfast --pid PID
// (or LOCKD_SOCKET / LOCKD_FLAVOR / LOCKD_PID). node:test runs the registered tests when this script ends.
import { parseArgs } from 'node:util';
import type { DaemonFlavor, DaemonHandle } from '../fixtures/daemon-handle';
import { defineConformanceSuite } from './suite';

const USAGE = 'usage: run-against --socket PATH --flavor virtlockd|holdfast --pid PID';

function main(): void {
  const { values } = parseArgs({
    options: {
      socket: { type: 'string' },
      flavor: { type: 'string' },
      pid: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const socket = values.socket ?? process.env.LOCKD_SOCKET;
  const flavor = values.flavor ?? process.env.LOCKD_FLAVOR;
  const pidText = values.pid ?? process.env.LOCKD_PID;
  if (!socket && !flavor && !pidText && process.env.NODE_TEST_CONTEXT) {
    // Picked up as a file by `node --test dist/test/` (Node 20 runs every .js under test/): nothing to run.
    return;
  }
  if (!socket || (flavor !== 'virtlockd' && flavor !== 'holdfast') || !pidText || !/^\d+$/.test(pidText)) {
    process.stderr.write(`${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  // The daemon's pid is what /proc/locks and F_GETLK name as the holder of virtlockd's POSIX locks.
  const target: DaemonHandle = {
    flavor: flavor as DaemonFlavor,
    socket,
    pid: Number(pidText),
    stop: async () => {},
    logs: () => '',
  };
  defineConformanceSuite(() => target, { flavor: target.flavor });
}

main();
