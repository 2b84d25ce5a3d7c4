// Shared state and helpers of one conformance run: the target daemon, its temp dir, client bookkeeping,
// fake owner pids and the exact-error assertion. Knows nothing of any daemon's internals.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { LockClient, LockError } from '../../src/client/lock-client';
import type { VirError } from '../../src/shared/protocol/vir-error';
import type { DaemonFlavor, DaemonHandle } from '../fixtures/daemon-handle';
import type { ExpectedError } from './expected-errors';

export interface ConformanceOptions {
  /** Picks the expected variant of each deliberate difference (OFD vs POSIX, stall vs none). */
  flavor: DaemonFlavor;
  /** Parent of the run's temp dir (default /tmp). The daemon must be able to create files there. */
  tmpRoot?: string;
  /** Per-test timeout (default 20 s): a daemon that stops answering fails the test instead of hanging the run. */
  timeoutMs?: number;
}

/**
 * Owner pids that no process can have: above the kernel's PID_MAX_LIMIT (2^22). The daemon does not validate
 * pids, and a connection from this process never has clientPid == ownerPid, so its disconnect releases nothing
 * and kills nobody (the test runner's own pid must never be registered on a connection holding locks).
 */
const FAKE_PID_BASE = 4_200_000;

export class ConformanceContext {
  readonly flavor: DaemonFlavor;
  readonly timeoutMs: number;
  #getTarget: () => DaemonHandle;
  #tmpRoot: string;
  #root: string | undefined;
  #open = new Set<LockClient>();
  #nextPid = FAKE_PID_BASE;
  #nextDir = 0;

  constructor(getTarget: () => DaemonHandle, opts: ConformanceOptions) {
    this.#getTarget = getTarget;
    this.flavor = opts.flavor;
    this.timeoutMs = opts.timeoutMs ?? 20_000;
    this.#tmpRoot = opts.tmpRoot ?? '/tmp';
  }

  get target(): DaemonHandle {
    return this.#getTarget();
  }

  /** The run's temp dir (created on first use). */
  get root(): string {
    this.#root ??= mkdtempSync(join(this.#tmpRoot, 'holdfast-conformance-'));
    return this.#root;
  }

  /** A path that does not exist yet, unique in this run. */
  freshPath(label: string): string {
    this.#nextDir += 1;
    return join(this.root, `${String(this.#nextDir).padStart(3, '0')}-${label.replace(/[^a-z0-9]+/gi, '-')}`);
  }

  /** An existing empty directory, unique in this run. */
  freshDir(label: string): string {
    const dir = this.freshPath(label);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  fakePid(): number {
    this.#nextPid += 1;
    return this.#nextPid;
  }

  /** A connection closed after the test (closing is harmless: its clientPid never equals a fake ownerPid). */
  async connect(): Promise<LockClient> {
    const client = await LockClient.connect(this.target.socket);
    this.#open.add(client);
    return client;
  }

  /** A connection REGISTERed as `pid` (default: a fresh fake pid). */
  async registered(pid: number = this.fakePid()): Promise<LockClient> {
    const client = await this.connect();
    await client.register(owner(pid));
    return client;
  }

  /** A fresh directory lockspace created through CREATE_LOCKSPACE (which needs no REGISTER). */
  async lockspace(label: string): Promise<string> {
    const dir = this.freshPath(label);
    const client = await this.connect();
    await client.createLockspace(dir);
    await this.forget(client);
    return dir;
  }

  /** Close a tracked client now. */
  forget(client: LockClient): Promise<void> {
    this.#open.delete(client);
    return client.close();
  }

  async closeAll(): Promise<void> {
    const closing = [...this.#open].map((client) => client.close());
    this.#open.clear();
    await Promise.all(closing);
  }

  removeRoot(): void {
    if (this.#root) rmSync(this.#root, { recursive: true, force: true });
    this.#root = undefined;
  }

  /**
   * A positive control that the connection still answers: CREATE_LOCKSPACE("") succeeds on any
   * unrestricted connection, registered or not, and changes nothing.
   */
  async assertUsable(client: LockClient): Promise<void> {
    await client.createLockspace('');
  }

  /**
   * Registers one check: a node:test test with the run's per-test timeout, whose connections are closed
   * when it ends. (Not an afterEach hook: node:test runs those after every subtest too.)
   */
  check(name: string, fn: (t: TestContext) => Promise<void>): void {
    test(name, { timeout: this.timeoutMs }, async (t) => {
      try {
        await fn(t);
      } finally {
        await this.closeAll();
      }
    });
  }

  /** Reports a deliberate holdfast/virtlockd difference in the test output. */
  note(t: TestContext, message: string): void {
    t.diagnostic(`[${this.flavor}] ${message}`);
  }
}

/** Owner details as libvirt sends them; only id != 0 and pid matter to the daemon. */
export function owner(pid: number, id = 1): { uuid: Buffer; name: string; id: number; pid: number } {
  const uuid = Buffer.alloc(16);
  uuid.writeUInt32BE(pid >>> 0, 12);
  return { uuid, name: `conformance-${pid}`, id, pid };
}

/**
 * Asserts a decoded libvirt error is exactly `expected`: code, domain, message, whichever of
 * str1/str2/int1/int2/level the expectation names, and str3 absent (virtlockd never sets it).
 */
export function assertVirError(e: VirError, expected: ExpectedError): void {
  const got: Record<string, unknown> = { code: e.code, domain: e.domain, message: e.message, str3: e.str3 };
  const want: Record<string, unknown> = { code: expected.code, domain: expected.domain, message: expected.message, str3: null };
  for (const key of ['str1', 'str2', 'int1', 'int2', 'level'] as const) {
    if (expected[key] !== undefined) {
      got[key] = e[key];
      want[key] = expected[key];
    }
  }
  assert.deepEqual(got, want);
}

/** Asserts that `promise` rejects with exactly this libvirt error (see {@link assertVirError}). */
export async function expectError(promise: Promise<unknown>, expected: ExpectedError): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected error ${expected.code}/${expected.domain} "${expected.message}", got success`);
  assert.ok(caught instanceof LockError, `expected a LockError, got ${String(caught)}`);
  assertVirError(caught.virError, expected);
}
