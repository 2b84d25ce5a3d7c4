// A listening service: accepts connections on a listening unix socket fd, checks the peer's uid with
// SO_PEERCRED (root serves only root; anyone else only itself), enforces max_clients by pausing accept,
// and owns the set of live connections. A new connection is served only once the open hook (custody)
// has resolved.
import type { Logger } from 'pino';
import * as native from '../../shared/platform/native';
import { CloseReason, Connection, ConnectionContext, FrameHandler, PeerCredentials } from './connection';
import type { FrameBudget } from './frame-budget';

export interface ServerHooks {
  /** Handles one frame of a connection (see Connection). */
  onFrame: FrameHandler;
  /** A connection passed the uid check; it is served once this resolves. */
  onOpen(connection: Connection): void | Promise<void>;
  /** A connection is gone. */
  onClose(connection: Connection, reason: CloseReason): void;
  /** Resolves once the supervisor has applied everything committed so far. */
  barrier(): Promise<void>;
  /** Whether the fd budget has room for one more client; without room a new connection is closed at once. */
  roomForClient(): boolean;
}

export interface ServerOptions {
  name: 'virtlockd' | 'admin';
  listenFd: number;
  maxClients: number;
  /** The uid a peer must have; virtlockd's rule is the daemon's own euid (root: only root). */
  allowedUid: number;
  /** Frame memory bounds; one budget shared by every server of the worker. */
  budget: FrameBudget;
}

// After EMFILE/ENFILE, accept again after a pause instead of spinning on a readable listener.
const ACCEPT_RETRY_MS = 100;
// A refusal for want of fds is logged once, then at most this often while refusals go on.
const REFUSAL_LOG_EVERY_MS = 10_000;

export class RpcServer {
  readonly #connections = new Map<number, Connection>();
  readonly #listener: native.Poller;
  readonly #context: ConnectionContext;
  #accepting = false;
  #paused = true;
  #retryTimer: NodeJS.Timeout | null = null;
  #stopped = false;
  /** Set while accept() fails: logged once per episode, not every retry. */
  #acceptFailing = false;
  /** Connections closed for want of fds since the last log line about it. */
  #refused = 0;
  #refusalLoggedAt = 0;
  nextClientId = 1;

  constructor(
    readonly options: ServerOptions,
    private readonly hooks: ServerHooks,
    private readonly log: Logger,
  ) {
    this.#listener = new native.Poller(options.listenFd, () => this.#acceptAll());
    this.#context = {
      watcher: new native.EdgeWatcher(),
      barrier: () => hooks.barrier(),
      onFrame: hooks.onFrame,
      onClose: (c, r) => this.#closed(c, r),
      budget: options.budget,
      log,
    };
  }

  get connections(): ReadonlyMap<number, Connection> {
    return this.#connections;
  }

  get maxClients(): number {
    return this.options.maxClients;
  }

  /** Changes max_clients at run time (admin srv-clients-set): nobody is dropped, accepting follows the new limit. */
  setMaxClients(n: number): void {
    this.options.maxClients = n;
    if (this.#connections.size >= n) this.#pauseAccept();
    else this.#resumeAccept();
  }

  /** True when no connection is in the middle of a request. */
  get idle(): boolean {
    for (const connection of this.#connections.values()) if (connection.busy) return false;
    return true;
  }

  /** Starts or resumes accepting and reading. */
  start(): void {
    this.#paused = false;
    for (const connection of this.#connections.values()) connection.start();
    this.#resumeAccept();
  }

  /** Stops accepting and reading new requests (a handoff is coming); requests in progress complete. */
  pause(): void {
    this.#paused = true;
    this.#pauseAccept();
    for (const connection of this.#connections.values()) connection.pause();
  }

  /** Stops for good and closes our fds (the sockets live on in the supervisor). */
  stop(reason: CloseReason): void {
    this.#stopped = true;
    this.pause();
    this.#listener.close();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    for (const connection of [...this.#connections.values()]) connection.close(reason);
    this.#context.watcher.close();
  }

  /** Adds a connection whose socket fd came from custody; it is read once the server starts. */
  adopt(id: number, fd: number, peer: PeerCredentials, connectedAt: number): Connection {
    const connection = new Connection(id, fd, peer, connectedAt, this.#context);
    this.#connections.set(id, connection);
    this.nextClientId = Math.max(this.nextClientId, id + 1);
    return connection;
  }

  #resumeAccept(): void {
    if (this.#accepting || this.#stopped || this.#paused || this.#connections.size >= this.options.maxClients) return;
    this.#accepting = true;
    this.#listener.start(native.Poller.READABLE);
  }

  #pauseAccept(): void {
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
        if (!this.#acceptFailing) this.log.error({ server: this.options.name, code }, `accept failed; pausing the listener, retrying every ${ACCEPT_RETRY_MS} ms`);
        this.#acceptFailing = true;
        this.#pauseAccept();
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = null;
          this.#resumeAccept();
        }, ACCEPT_RETRY_MS);
        return;
      }
      if (fd === null) return;
      if (this.#acceptFailing) this.log.info({ server: this.options.name }, 'accepting connections again');
      this.#acceptFailing = false;
      if (!this.hooks.roomForClient()) {
        this.#refuse(fd);
        continue;
      }
      this.#admit(fd);
    }
    // At max_clients new peers wait in the backlog, as with virtlockd, until someone leaves.
    if (this.#connections.size >= this.options.maxClients) this.#pauseAccept();
  }

  // No fds to spare for this client here and in the supervisor's custody: it is closed at once (it sees
  // end-of-file) rather than left in the backlog, which would look like a hung daemon.
  #refuse(fd: number): void {
    native.close(fd);
    this.#refused++;
    const now = Date.now();
    if (now - this.#refusalLoggedAt < REFUSAL_LOG_EVERY_MS) return;
    this.log.warn({ server: this.options.name, refused: this.#refused }, 'too many open files: closing new connections until clients or locks go');
    this.#refusalLoggedAt = now;
    this.#refused = 0;
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
      this.log.warn({ server: this.options.name, uid: peer.uid, peerPid: peer.pid }, `Disallowing client with uid ${peer.uid}`);
      native.close(fd);
      return;
    }
    const connection = this.adopt(this.nextClientId++, fd, peer, Date.now());
    const opened = this.hooks.onOpen(connection);
    const serve = (): void => {
      if (!this.#paused) connection.start();
    };
    if (opened instanceof Promise) {
      opened.then(serve, (err: unknown) => {
        this.log.error({ err, client: connection.id }, 'could not take custody of a new client; closing it');
        connection.close('error');
      });
    } else serve();
  }

  #closed(connection: Connection, reason: CloseReason): void {
    this.#connections.delete(connection.id);
    this.hooks.onClose(connection, reason);
    this.#resumeAccept();
  }
}
