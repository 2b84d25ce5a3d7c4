// A listening service: accepts connections on a listening unix socket fd, checks the peer's uid with
// SO_PEERCRED (root serves only root; anyone else only itself), enforces max_clients by pausing accept,
// and owns the set of live connections.
import type { Logger } from 'pino';
import * as native from '../../shared/native';
import { CloseReason, Connection, FrameHandler, PeerCredentials } from './connection';

export interface ServerHooks {
  /** Handles one frame of a connection (see Connection). */
  onFrame: FrameHandler;
  /** A connection was accepted and passed the uid check. */
  onOpen(connection: Connection): void;
  /** A connection is gone. */
  onClose(connection: Connection, reason: CloseReason): void;
}

export interface ServerOptions {
  name: string;
  listenFd: number;
  maxClients: number;
  /** The uid a peer must have; virtlockd's rule is the daemon's own euid (root: only root). */
  allowedUid: number;
}

// After EMFILE/ENFILE, accept again after a pause instead of spinning on a readable listener.
const ACCEPT_RETRY_MS = 100;

export class RpcServer {
  readonly #connections = new Map<number, Connection>();
  readonly #listener: native.Poller;
  #accepting = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #stopped = false;
  nextClientId = 1;

  constructor(
    readonly options: ServerOptions,
    private readonly hooks: ServerHooks,
    private readonly log: Logger,
  ) {
    this.#listener = new native.Poller(options.listenFd, () => this.#acceptAll());
  }

  get connections(): ReadonlyMap<number, Connection> {
    return this.#connections;
  }

  start(): void {
    this.#resume();
  }

  /** Stops accepting and closes every connection fd of ours (the sockets live on in other holders). */
  stop(reason: CloseReason): void {
    this.#stopped = true;
    this.#pause();
    this.#listener.close();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    for (const connection of [...this.#connections.values()]) connection.close(reason);
  }

  /** Adds a connection whose socket fd came from elsewhere (handoff, restart). */
  adopt(id: number, fd: number, peer: PeerCredentials): Connection {
    const connection = new Connection(id, fd, peer, this.hooks.onFrame, (c, r) => this.#closed(c, r), this.log);
    this.#connections.set(id, connection);
    this.nextClientId = Math.max(this.nextClientId, id + 1);
    return connection;
  }

  #resume(): void {
    if (this.#accepting || this.#stopped) return;
    this.#accepting = true;
    this.#listener.start(native.Poller.READABLE);
  }

  #pause(): void {
    if (!this.#accepting) return;
    this.#accepting = false;
    this.#listener.stop();
  }

  #acceptAll(): void {
    while (this.#accepting && this.#connections.size < this.options.maxClients) {
      let fd: number | null;
      try {
        fd = native.accept(this.options.listenFd);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'ECONNABORTED' || code === 'EINTR') continue;
        this.log.error({ server: this.options.name, code }, 'accept failed; pausing the listener');
        this.#pause();
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = null;
          this.#resume();
        }, ACCEPT_RETRY_MS);
        return;
      }
      if (fd === null) return;
      this.#admit(fd);
    }
    // At max_clients new peers wait in the backlog, as with virtlockd, until someone leaves.
    if (this.#connections.size >= this.options.maxClients) this.#pause();
  }

  #admit(fd: number): void {
    let peer: PeerCredentials;
    try {
      peer = native.peerCred(fd);
    } catch (err) {
      this.log.warn({ server: this.options.name, err }, 'cannot read peer credentials; closing');
      native.close(fd);
      return;
    }
    if (peer.uid !== this.options.allowedUid) {
      this.log.warn({ server: this.options.name, uid: peer.uid, pid: peer.pid }, `Disallowing client with uid ${peer.uid}`);
      native.close(fd);
      return;
    }
    const connection = this.adopt(this.nextClientId++, fd, peer);
    this.hooks.onOpen(connection);
  }

  #closed(connection: Connection, reason: CloseReason): void {
    this.#connections.delete(connection.id);
    this.hooks.onClose(connection, reason);
    if (!this.#stopped && this.#connections.size < this.options.maxClients) this.#resume();
  }
}
