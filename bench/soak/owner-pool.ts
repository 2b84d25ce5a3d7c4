// The persistent owners: spawns them, turns their reports into ledger entries and tally counts, and replaces
// an owner that was lost or killed (after the prober has stopped looking at what it held). A replacement
// gets files of its own generation, so it never contends with locks its predecessor's death is still freeing.
import { join } from 'node:path';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { ofdGetLock } from '../../src/shared/platform/native';
import type { SoakContext } from './context';
import { sleep } from './deadline';
import { spawnOwner, type OwnerConfig, type OwnerHandle, type OwnerMessage } from './owner';

export interface OwnerPoolOptions {
  owners: number;
  maxHeld: number;
  thinkMs: number;
}

interface OwnerState {
  handle: OwnerHandle;
  ready: Promise<void>;
  markReady(): void;
  quiet: Promise<void>;
  markQuiet(): void;
  /** The loss of this owner has been booked (one loss per owner, however many ways it shows). */
  lostBooked: boolean;
  /** Duplicate replies it reported so far. */
  duplicates: number;
  exclusiveFiles: string[];
}

const FILES_PER_OWNER = 3;
const READY_TIMEOUT_MS = 30_000;
/** A dead owner's locks must be free within this long (the daemon's kill-and-release path). */
const STALE_AFTER_MS = 15_000;

export class OwnerPool {
  readonly #states = new Map<number, OwnerState>();
  #generation = 0;
  /** Owners killed on purpose and replaced. */
  replaced = 0;
  /** Locks still held this long after their owner died. */
  readonly stale: string[] = [];

  constructor(
    private readonly ctx: SoakContext,
    private readonly opts: OwnerPoolOptions,
  ) {}

  async start(): Promise<void> {
    const states = Array.from({ length: this.opts.owners }, (_, i) => this.#spawn(i));
    await Promise.all(states.map((s) => withTimeout(s.ready, READY_TIMEOUT_MS, `owner ${s.handle.index} ready`)));
  }

  go(): void {
    for (const s of this.#states.values()) s.handle.send({ t: 'go' });
  }

  /** Every owner releases everything and idles, connected (for the quiet fd measurement). */
  async quiesce(): Promise<void> {
    const states = [...this.#states.values()];
    for (const s of states) s.handle.send({ t: 'quiesce' });
    await Promise.all(states.map((s) => withTimeout(s.quiet, 60_000, `owner ${s.handle.index} quiet`)));
  }

  async stop(): Promise<void> {
    const states = [...this.#states.values()];
    this.#states.clear();
    for (const s of states) {
      s.handle.leaving = true;
      s.handle.send({ t: 'stop' });
    }
    await Promise.all(
      states.map(async (s) => {
        await Promise.race([s.handle.exited, sleep(10_000)]);
        await this.ctx.ledger.releasingAll(s.handle.holder);
        await s.handle.kill();
      }),
    );
  }

  /** Chaos: SIGKILL one owner (a VM that crashed); its locks must come free, and a new owner takes its place. */
  async killOne(): Promise<string> {
    const states = [...this.#states.values()].filter((s) => !s.handle.leaving);
    if (states.length === 0) return 'no owner to kill';
    const s = this.ctx.random.pick(states);
    const held = this.ctx.ledger.heldBy(s.handle.holder);
    await this.#retire(s, 'killed');
    return `owner ${s.handle.index} (pid ${s.handle.pid}, ${held} locks)`;
  }

  #spawn(index: number): OwnerState {
    const gen = this.#generation++;
    const { paths } = this.ctx;
    const exclusive = Array.from({ length: FILES_PER_OWNER }, (_, k) => join(paths.files, `owner-${index}-g${gen}-${k}.img`));
    for (const f of exclusive) writeFileSync(f, '');
    const config: OwnerConfig = {
      index,
      socket: this.ctx.daemon.socket,
      exclusive,
      shared: this.ctx.sharedFiles,
      lockspace: paths.lockspace,
      autocreate: Array.from({ length: FILES_PER_OWNER }, (_, k) => `auto-${index}-g${gen}-${k}.img`),
      maxHeld: this.opts.maxHeld,
      thinkMs: this.opts.thinkMs,
      seed: this.ctx.random.fork(),
    };
    const ready = signal();
    const quiet = signal();
    const state: OwnerState = {
      handle: spawnOwner(config, (handle, m) => this.#onMessage(state, handle, m)),
      ready: ready.promise,
      markReady: ready.fire,
      quiet: quiet.promise,
      markQuiet: quiet.fire,
      lostBooked: false,
      duplicates: 0,
      exclusiveFiles: [...exclusive, ...config.autocreate.map((n) => join(paths.lockspace, n))],
    };
    this.#states.set(index, state);
    void state.handle.exited.then(() => {
      if (state.handle.leaving) return;
      this.#bookLoss(state, 'lost', 'owner process exited unexpectedly');
      void this.#retire(state, 'exited');
    });
    return state;
  }

  #onMessage(state: OwnerState, handle: OwnerHandle, m: OwnerMessage): void {
    const { ledger, tally } = this.ctx;
    const who = `owner ${handle.index} (pid ${handle.pid})`;
    switch (m.t) {
      case 'ready':
        state.markReady();
        break;
      case 'quiet':
        state.markQuiet();
        break;
      case 'held':
        if (!handle.leaving) ledger.held(m.path, handle.holder);
        break;
      case 'releasing':
        void ledger.releasing(m.path, handle.holder).then(() => handle.send({ t: 'release-ok', id: m.id }));
        break;
      case 'stats':
        tally.add(m);
        if (m.duplicates > state.duplicates) {
          tally.record('duplicates', who, `${m.duplicates - state.duplicates} unclaimed replies`);
          state.duplicates = m.duplicates;
        }
        break;
      case 'failed': {
        if (handle.leaving) break;
        if (!m.fatal) {
          tally.record(m.kind === 'protocol' ? 'duplicates' : 'errors', who, m.what);
          break;
        }
        if (m.kind === 'unanswered') tally.record('unanswered', who, m.what);
        else if (m.kind === 'closed') this.#bookLoss(state, 'lost', m.what);
        else tally.record(m.kind === 'protocol' ? 'duplicates' : 'errors', who, m.what);
        void this.#retire(state, m.kind);
        break;
      }
      case 'closed':
        if (handle.leaving) break;
        this.#bookLoss(state, 'lost', 'the daemon closed the connection');
        void this.#retire(state, 'closed');
        break;
      case 'sigterm':
        if (handle.leaving) break;
        this.#bookLoss(state, 'lost', 'the daemon signalled the owner as gone (SIGTERM)');
        void this.#retire(state, 'sigterm');
        break;
      case 'stopped':
        break;
    }
  }

  #bookLoss(state: OwnerState, kind: 'lost', what: string): void {
    if (state.lostBooked) return;
    state.lostBooked = true;
    this.ctx.tally.record(kind, `owner ${state.handle.index} (pid ${state.handle.pid})`, what);
  }

  // Stop believing in its locks, kill it, check its locks come free, and start its successor.
  async #retire(state: OwnerState, why: string): Promise<void> {
    if (state.handle.leaving) return;
    state.handle.leaving = true;
    await this.ctx.ledger.releasingAll(state.handle.holder);
    await state.handle.kill();
    if (why === 'killed') this.replaced++;
    void this.#checkFreed(state);
    if (!this.ctx.running() || this.#states.get(state.handle.index) !== state) return;
    const next = this.#spawn(state.handle.index);
    try {
      await withTimeout(next.ready, READY_TIMEOUT_MS, `owner ${state.handle.index} ready`);
      next.handle.send({ t: 'go' });
    } catch (err) {
      this.ctx.tally.record('lost', `owner ${state.handle.index}`, `replacement never got ready: ${(err as Error).message}`);
    }
  }

  // A dead owner's exclusive locks must be released by the daemon; one still held after a while is stale.
  async #checkFreed(state: OwnerState): Promise<void> {
    const deadline = Date.now() + STALE_AFTER_MS;
    for (const path of state.exclusiveFiles) {
      while (lockedByAnyone(path)) {
        if (Date.now() > deadline) {
          this.stale.push(`${path} still locked ${STALE_AFTER_MS / 1000} s after owner pid ${state.handle.pid} died`);
          break;
        }
        await sleep(100);
      }
    }
  }
}

function lockedByAnyone(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch {
    return false; // an AUTOCREATE file is unlinked on its last release
  }
  try {
    return ofdGetLock(fd, 'write', 0, 1) !== null;
  } finally {
    closeSync(fd);
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function signal(): { promise: Promise<void>; fire(): void } {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => (fire = resolve));
  return { promise, fire };
}
