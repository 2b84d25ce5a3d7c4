// Issue 12, case 9: clients that declare huge frames, send most of one and go silent must not pin the
// worker's memory. The flood: 16 clients, each a 32 MiB frame with 30 MiB sent. The worker's RSS stays
// within the frame budget, a well-behaved client is answered meanwhile, the stalled clients are closed at
// the frame deadline, and the memory comes back once they are gone.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import { LOCK_PROGRAM, LOCK_PROGRAM_VERSION, LockProcedure } from '../../src/shared/protocol/lock-program';
import { MessageStatus, MessageType, encodeMessage } from '../../src/shared/protocol/message';
import { settleWithin, within } from '../fixtures/deadline';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';
import { workerPid } from '../fixtures/process-info';

const MiB = 1024 * 1024;
const CLIENTS = 16;
const DECLARED = 32 * MiB;
const SENT = 30 * MiB;
const TOTAL_LIMIT = 64 * MiB;
const DEADLINE_MS = 3000;
// RSS may exceed the frame budget by this much (V8 heap growth, socket scratch, allocator slack).
const RSS_SLACK = 48 * MiB;
// After the flood has left, RSS must be back within this much of the baseline.
const RETURN_SLACK = 24 * MiB;

let dir: string;
let daemon: HoldfastHandle;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'holdfast-flood-'));
  daemon = await startHoldfast({
    dir,
    // A per-client limit as large as libvirt allows, so that the total limit and the deadline are what bind.
    config: `max_frame_bytes_per_client = ${DECLARED + 4}\nmax_frame_bytes_total = ${TOTAL_LIMIT}\nframe_deadline_ms = ${DEADLINE_MS}\n`,
  });
});

after(async () => {
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** One answered request cycle of a well-behaved client, each call bounded. */
async function wellBehaved(n: number): Promise<void> {
  const client = await within(2000, 'connect', LockClient.connect(daemon.socket));
  try {
    await within(2000, 'register', client.register({ uuid: `00000000-0000-4000-8000-0000000f09${String(n).padStart(2, '0')}`, name: `good${n}`, id: n, pid: 0x7ffff000 + n }));
    const disk = join(dir, `disk${n}.img`);
    writeFileSync(disk, '');
    await within(2000, 'acquire', client.acquire('', disk, 0));
    await within(2000, 'release', client.release('', disk, 0));
  } finally {
    await client.close();
  }
}

interface Hostile {
  socket: net.Socket;
  closed: boolean;
  closedAt: number;
}

test(`${CLIENTS} clients stalled inside ${DECLARED / MiB} MiB frames: bounded RSS, others served, closed at the deadline, memory returned`, async (t) => {
  const worker = await workerPid(daemon.pid);
  await wellBehaved(1);
  const baseline = rssBytes(worker);
  t.diagnostic(`worker ${worker}: baseline RSS ${mib(baseline)}`);

  const head = encodeMessage(
    { prog: LOCK_PROGRAM, vers: LOCK_PROGRAM_VERSION, proc: LockProcedure.ACQUIRE_RESOURCE, type: MessageType.CALL, serial: 0, status: MessageStatus.OK },
    Buffer.alloc(0),
  );
  head.writeUInt32BE(DECLARED, 0);
  // One body for every client: a socket keeps a reference to what it writes, not a copy.
  const body = Buffer.alloc(SENT - head.length, 0x5a);
  const startedAt = Date.now();
  const hostiles: Hostile[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const h: Hostile = { socket: net.connect(daemon.socket), closed: false, closedAt: 0 };
    h.socket.on('error', () => undefined);
    h.socket.on('data', () => undefined);
    h.socket.on('close', () => {
      h.closed = true;
      h.closedAt = Date.now();
    });
    h.socket.write(head);
    h.socket.write(body);
    hostiles.push(h);
  }
  try {
    // The flood is in place once every client has handed all its bytes to the kernel (or was closed).
    const placed = await settleWithin(() => hostiles.every((h) => h.closed || h.socket.writableLength === 0), 10_000, 25);
    const stalled = hostiles.filter((h) => !h.closed).length;
    const during = rssBytes(worker);
    t.diagnostic(`flood in place: ${placed}; ${stalled} of ${CLIENTS} clients still connected; worker RSS ${mib(during)} (+${mib(during - baseline)})`);
    assert.ok(
      during - baseline <= TOTAL_LIMIT + RSS_SLACK,
      `worker RSS grew by ${mib(during - baseline)} under the flood; the bound is ${mib(TOTAL_LIMIT)} of frames + ${mib(RSS_SLACK)}`,
    );

    // Small requests of a well-behaved client are answered while the flood holds the frame budget.
    await wellBehaved(2);

    // Every stalled client is closed by the frame deadline (with slack for a loaded machine); those that held
    // the budget, not before it.
    const allClosed = await settleWithin(() => hostiles.every((h) => h.closed), DEADLINE_MS + 4000, 25);
    assert.ok(allClosed, `${hostiles.filter((h) => !h.closed).length} of ${CLIENTS} stalled clients still connected ${Date.now() - startedAt} ms after they started (deadline ${DEADLINE_MS} ms)`);
    const last = Math.max(...hostiles.map((h) => h.closedAt)) - startedAt;
    t.diagnostic(`last stalled client closed ${last} ms after the flood started`);
    assert.ok(last >= DEADLINE_MS - 250, `the last stalled client was closed after ${last} ms, well before the ${DEADLINE_MS} ms deadline`);

    // Their memory is returned: RSS comes back near the baseline.
    let now = rssBytes(worker);
    await settleWithin(() => (now = rssBytes(worker)) - baseline <= RETURN_SLACK, 5000, 25);
    t.diagnostic(`worker RSS after the flood left: ${mib(now)} (+${mib(now - baseline)})`);
    assert.ok(now - baseline <= RETURN_SLACK, `worker RSS still ${mib(now - baseline)} above the baseline after the flood left`);

    // Still the same worker, still serving.
    assert.equal(await workerPid(daemon.pid), worker, 'the worker was replaced');
    await wellBehaved(3);
  } finally {
    for (const h of hostiles) h.socket.destroy();
  }
});
