// The worker: serves the lock protocol on the listening sockets the supervisor hands it. Everything that
// parses client bytes lives below this object; the supervisor only ever sees fds and control messages.
import type { Logger } from 'pino';
import type { InitMessage, WorkerSettings } from '../shared/control/messages';
import * as native from '../shared/native';
import { dispatchFrame } from './rpc/program';
import { RpcServer } from './rpc/server';
import type { Connection } from './rpc/connection';
import { LockService } from './lock/lock-service';
import type { LockEvents } from './lock/dispatch';

export class Worker {
  readonly lock: LockService;
  #lockServer: RpcServer | null = null;

  constructor(
    readonly settings: WorkerSettings,
    private readonly log: Logger,
  ) {
    const events: LockEvents = {
      acquired: (resource, client, lockspace) => {
        this.log.debug({ lockspace, resource: resource.name, ownerPid: client.ownerPid, shared: resource.shared }, 'acquired');
      },
      released: (outcome, client, lockspace) => {
        this.log.debug({ lockspace, resource: outcome.resource.name, ownerPid: client.ownerPid, freed: outcome.freed }, 'released');
      },
    };
    this.lock = new LockService(
      { termGraceMs: settings.ownerKillTermGraceMs, giveUpMs: settings.ownerKillGiveUpMs },
      events,
      log.child({ component: 'lock' }),
    );
  }

  /** Starts serving on the listeners of an init message; `fds` are the datagram's fds (ours now). */
  start(init: InitMessage, fds: number[]): void {
    for (const listener of init.listeners) {
      const fd = fds[listener.fdIndex];
      if (fd === undefined) throw new Error(`init message names fd ${listener.fdIndex} but carries ${fds.length}`);
      if (listener.name === 'lock') this.#lockServer = this.#serveLock(fd);
    }
    // Admin listener arrives with its own issue; until then its fd is not ours to keep.
    const used = new Set(init.listeners.filter((l) => l.name === 'lock').map((l) => fds[l.fdIndex]));
    for (const fd of fds) if (!used.has(fd)) native.close(fd);
  }

  /** Stops serving; closes only this process's fds. */
  stop(): void {
    this.#lockServer?.stop('handoff');
  }

  #serveLock(listenFd: number): RpcServer {
    const programs = [this.lock.program];
    const rpcLog = this.log.child({ component: 'rpc' });
    const server = new RpcServer(
      { name: 'virtlockd', listenFd, maxClients: this.settings.maxClients, allowedUid: this.settings.allowedUid },
      {
        onFrame: (connection, header, frame) => {
          const outcome = dispatchFrame(programs, header, frame, connection, rpcLog);
          return outcome instanceof Promise ? outcome.then((o) => o.reply) : outcome.reply;
        },
        onOpen: (connection: Connection) => {
          rpcLog.debug({ client: connection.id, pid: connection.peer.pid }, 'client connected');
          this.lock.onOpen(connection);
        },
        onClose: (connection: Connection, reason) => {
          rpcLog.debug({ client: connection.id, reason }, 'client disconnected');
          if (reason !== 'handoff') this.lock.onClose(connection);
        },
      },
      rpcLog,
    );
    server.start();
    return server;
  }
}
