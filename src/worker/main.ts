// Worker entry point: started by the supervisor with the control channel on fd 3.
// The SIGUSR1 listener goes first: on Node 20 an unhandled SIGUSR1 would open the inspector on port 9229.
process.on('SIGUSR1', () => undefined);
// Ctrl-C in a terminal reaches the whole process group; the supervisor decides when the worker stops.
process.on('SIGINT', () => undefined);

import { ControlChannel } from '../shared/control/channel';
import { isSupervisorMessage, SupervisorMessage, WorkerMessage } from '../shared/control/messages';
import { createLogger } from '../shared/log';
import { Worker } from './worker';

const CONTROL_FD = 3;

let worker: Worker | null = null;
let log = createLogger({ name: 'holdfastd-worker', level: 'info', format: 'json' });

const channel: ControlChannel<SupervisorMessage, WorkerMessage> = new ControlChannel(
  CONTROL_FD,
  isSupervisorMessage,
  {
    message(message, fds) {
      switch (message.type) {
        case 'init': {
          const { logLevel, logFormat, logOutputs, logFilters } = message.settings;
          log = createLogger({ name: 'holdfastd-worker', level: logLevel as 1 | 2 | 3 | 4, format: logFormat, outputs: logOutputs, filters: logFilters });
          worker = new Worker(message.settings, log);
          worker.start(message, fds);
          channel.send({ type: 'ready', generation: message.generation, pid: process.pid });
          log.info({ generation: message.generation }, 'worker serving');
          return;
        }
        case 'shutdown':
          worker?.stop();
          log.info('worker stopped on request');
          process.exit(0);
      }
    },
    close() {
      // Without a supervisor nobody else holds our locks: keep serving rather than drop them.
      log.error('control channel closed: supervisor gone; serving on alone');
    },
  },
  log,
);
