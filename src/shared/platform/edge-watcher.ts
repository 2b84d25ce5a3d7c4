// Edge-triggered readiness of many fds through one epoll instance (native/epoll.c), watched by one Poller.
import { addon } from './addon';
import { Poller } from './poller';

/** Readiness callback of an {@link EdgeWatcher} entry: a mask of Poller.READABLE and Poller.DISCONNECT. */
export type EdgeCallback = (events: number) => void;

/**
 * Watches many fds, edge-triggered, through one epoll instance on Node's event loop: each callback runs
 * once per arrival of new data (or hang-up), not while data merely stays queued. A socket whose bytes are
 * only peeked stays readable, so a level-triggered watch would spin on it. The caller must read until it
 * would block (or remember that it stopped early), and must remove() an fd before closing it.
 */
export class EdgeWatcher {
  readonly #epfd: number;
  readonly #poller: Poller;
  readonly #callbacks = new Map<number, EdgeCallback>();
  readonly #events = new Int32Array(512);
  #nextId = 1;

  constructor() {
    this.#epfd = addon.epollCreate();
    this.#poller = new Poller(this.#epfd, () => this.#dispatch());
    this.#poller.start(Poller.READABLE);
  }

  /** Starts watching `fd`; returns the id to remove it with. */
  add(fd: number, callback: EdgeCallback): number {
    const id = this.#nextId++;
    addon.epollAdd(this.#epfd, fd, id);
    this.#callbacks.set(id, callback);
    return id;
  }

  /** Stops watching `fd` (call before closing it). */
  remove(id: number, fd: number): void {
    if (!this.#callbacks.delete(id)) return;
    try {
      addon.epollDel(this.#epfd, fd);
    } catch {
      // Already gone from the set (closed elsewhere): nothing left to remove.
    }
  }

  close(): void {
    this.#poller.close();
    this.#callbacks.clear();
    addon.close(this.#epfd);
  }

  #dispatch(): void {
    for (;;) {
      const n = addon.epollTake(this.#epfd, this.#events);
      for (let i = 0; i < n; i++) this.#callbacks.get(this.#events[2 * i]!)?.(this.#events[2 * i + 1]!);
      if (n < this.#events.length / 2) return;
    }
  }
}
