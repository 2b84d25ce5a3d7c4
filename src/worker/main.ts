// Worker entry point: started by the supervisor with the control channel on fd 3. It waits for the custody
// snapshot and `init`, then serves until told to drain, resume or shut down.
// Signal intake first: from its first line on, no signal ends this process (see signal-intake).
import { onSignal, REQUEST_SIGNALS } from '../shared/platform/signal-intake';
import type { Logger } from 'pino';
import { ControlChannel } from '../shared/custody/channel';
import { COMMIT_CODEC_VERSION, decodeCommitted } from '../shared/custody/commit-codec';
import { isSupervisorMessage, SupervisorMessage, WorkerMetricsSnapshot, WorkerMessage } from '../shared/custody/messages';
import type { SupervisorStatus } from '../shared/custody/supervisor-status';
import { createLogger, reopenLogFiles } from '../shared/platform/log';
import * as native from '../shared/platform/native';
import type { SupervisorBridge } from './admin/operations-service';
import { CustodyLink } from './custody-link';
import { lowerWorkerFdLimit } from './fd-budget';
import { StagedCustody } from './staged-custody';
import { Worker } from './worker';

const CONTROL_FD = 3;
// The supervisor alone decides when a worker stops (Ctrl-C reaches the whole process group, `systemctl
// kill` the whole cgroup); a worker only follows SIGHUP, to reopen its log files.
for (const signal of REQUEST_SIGNALS) onSignal(signal, () => undefined);
onSignal('SIGHUP', () => reopenLogFiles());
// The supervisor runs under SCHED_BATCH and we inherited it; we are the one clients wait for.
try {
  native.setBatchScheduling(false);
} catch {
  // Not fatal: we only lose the edge over the supervisor.
}
// ps and tests tell the serving worker from a standby by its title.
process.title = 'holdfastd-worker standby';

let worker: Worker | null = null;
// Until `init` brings the configured log settings, only what matters at the default level (warning): a
// standby may live and die without ever being configured.
let log: Logger = createLogger({ name: 'holdfastd-worker', level: 'warn', format: 'json' });
// Before the custody snapshot brings any fd: we must run out before the supervisor can.
lowerWorkerFdLimit(log);
// The custody snapshot, built into the lock model as `adopt` messages bring it, before `init`.
const staged = new StagedCustody(log);
// Drained, the worker expects to be replaced: the supervisor's exec closes the channel on purpose.
let drained = false;
// The supervisor's status as it last told us, and our predecessor's metrics (applied once at init).
let supervisorStatus: SupervisorStatus | null = null;
let inheritedMetrics: WorkerMetricsSnapshot | null = null;
let nextActionId = 1;
const pendingActions = new Map<number, (result: { accepted: boolean; reason: string | null; supervisor: SupervisorStatus }) => void>();
const bridge: SupervisorBridge = {
  supervisorStatus: () => supervisorStatus,
  request(action) {
    const id = nextActionId++;
    return new Promise((resolve) => {
      pendingActions.set(id, resolve);
      channel.send({ type: 'action', id, action });
    });
  },
  logLevelChanged(level) {
    channel.send({ type: 'log-level', level });
  },
};

const channel: ControlChannel<SupervisorMessage, WorkerMessage> = new ControlChannel(
  CONTROL_FD,
  isSupervisorMessage,
  {
    message(message, fds) {
      switch (message.type) {
        case 'adopt':
          staged.apply(message, fds);
          return;
        case 'init': {
          // What starting costs us, from init to serving (the part of a swap's pause that is ours).
          const startCpu = process.cpuUsage();
          const { logLevel, logFormat, logOutputs, logFilters } = message.settings;
          log = createLogger({ name: 'holdfastd-worker', level: logLevel as 1 | 2 | 3 | 4, format: logFormat, outputs: logOutputs, filters: logFilters });
          // The channel and the link were made with the bootstrap logger: from here on they log as configured.
          channel.logTo(log);
          link.logTo(log);
          staged.logTo(log);
          link.usePipe({ read: fds[message.replyPipe.read]!, write: fds[message.replyPipe.write]!, capacity: message.replyPipe.capacity });
          worker = new Worker(message.settings, link, log, bridge);
          link.countTurnsIn(worker.metrics);
          if (inheritedMetrics) worker.metrics.restore(inheritedMetrics);
          inheritedMetrics = null;
          try {
            worker.start(message, fds, staged);
          } catch (err) {
            // Exit without serving: the supervisor keeps everything and tries again.
            log.fatal({ err }, 'cannot start from the custody snapshot');
            process.exit(70);
          }
          process.title = 'holdfastd-worker serving';
          channel.send({ type: 'ready', generation: message.generation, pid: process.pid });
          worker.serve();
          const startCpuUsed = process.cpuUsage(startCpu);
          log.info(
            { generation: message.generation, clients: worker.lock.clients.size, locks: worker.lock.locksHeld, startCpuMs: (startCpuUsed.user + startCpuUsed.system) / 1000 },
            'worker serving',
          );
          return;
        }
        case 'ping':
          channel.send({ type: 'pong' });
          return;
        case 'committed':
          link.acknowledge(message.seqs);
          return;
        case 'codecs':
          link.useCodecs(message.commit);
          // Our answer follows every binary commit already sent; what this turn still commits goes as
          // told (see WorkerProcess.commitAsJson).
          channel.send({ type: 'codecs', commit: link.committingBinary ? [COMMIT_CODEC_VERSION] : [] });
          break;
        case 'drain':
          drained = true;
          if (worker) {
            const draining = worker;
            void draining.drain().then(() => channel.send({ type: 'drained', counters: draining.metrics.snapshot(), locksNotHeld: draining.locksNotHeld() }));
          }
          return;
        case 'resume':
          drained = false;
          worker?.resume();
          return;
        case 'pace':
          link.pace(message.commitEveryMs);
          return;
        case 'facts':
          supervisorStatus = message.supervisor;
          // Only a worker that has not started yet takes metrics: a serving one already counts its own.
          if (message.counters && worker === null) inheritedMetrics = message.counters;
          return;
        case 'action-result': {
          const resolve = pendingActions.get(message.id);
          pendingActions.delete(message.id);
          resolve?.({ accepted: message.accepted, reason: message.reason, supervisor: message.supervisor });
          return;
        }
        case 'cluster-lease':
          // Before init, the init message carries the lease as it is then.
          worker?.setClusterLease(message);
          return;
        case 'shutdown':
          void (worker?.stop() ?? Promise.resolve()).then(() => process.exit(0));
          return;
      }
      fds.forEach((fd) => native.close(fd));
    },
    close() {
      // Without the supervisor nothing can be filed or consumed, so leave. Its custody (or systemd's fd
      // store) is what keeps the locks.
      if (drained || worker === null) {
        log.debug('control channel closed while drained or on standby (the supervisor re-executed); worker exiting');
        process.exit(0);
      }
      log.fatal('control channel closed: supervisor gone; worker exiting');
      process.exit(1);
    },
  },
  log,
  // The supervisor acknowledges in binary only once we committed in binary.
  { decodeBinary: decodeCommitted },
);

const link = new CustodyLink(channel, log);

// A bug that escapes every handler: name what we were doing to the supervisor before dying, so a request
// that kills every worker taking it up is answered with an error after the second, not retried forever.
process.on('uncaughtException', (err) => {
  try {
    const requests = worker?.faults.culprits(link.sendingClients) ?? [];
    channel.send({ type: 'fault', error: String((err as Error)?.stack ?? err).slice(0, 4000), requests });
    log.fatal({ err, requests: requests.map((r) => ({ client: r.client, procedure: r.procedureName, serial: r.serial })) }, 'uncaught exception; worker exiting');
  } finally {
    process.exit(70);
  }
});

channel.send({ type: 'booted', pid: process.pid });
