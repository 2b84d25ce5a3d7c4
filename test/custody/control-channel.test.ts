// ControlChannel over a real SEQPACKET socketpair in one process: fds that work on arrival, refusal of
// unreadable and schema-failing messages (fds closed, handler not called, logged), order, the EAGAIN
// path, and a hang-up that is reported only after everything queued before it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { CONTROL_FDS_MAX, ControlChannel } from '../../src/shared/custody/channel';
import { isSupervisorMessage, isWorkerMessage, type SupervisorMessage, type WorkerMessage } from '../../src/shared/custody/messages';
import * as native from '../../src/shared/platform/native';
import { within } from '../fixtures/deadline';

/** A pino logger into memory; `entries` are the parsed lines. */
function memoryLog(): { log: Logger; entries: Array<Record<string, unknown>> } {
  const entries: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line) entries.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { log: pino({ level: 'debug' }, stream), entries };
}

type Event = { kind: 'message'; message: unknown; fds: number[] } | { kind: 'close' };

/** A channel end that records what it receives and lets a test wait for a given event count. */
class Recorder<In> {
  readonly events: Event[] = [];
  #waiters: Array<{ count: number; resolve: () => void }> = [];

  /** With `closeFds`, received fds are closed at once (their numbers are still recorded). */
  constructor(private readonly closeFds = false) {}

  readonly handlers = {
    message: (message: In, fds: number[]): void => {
      if (this.closeFds) fds.forEach((fd) => native.close(fd));
      this.#push({ kind: 'message', message, fds });
    },
    close: (): void => this.#push({ kind: 'close' }),
  };

  get messages(): Array<{ message: In; fds: number[] }> {
    return this.events.flatMap((e) => (e.kind === 'message' ? [{ message: e.message as In, fds: e.fds }] : []));
  }

  /** Resolves once `count` events have arrived; fails after a bound instead of hanging the test. */
  until(count: number): Promise<void> {
    if (this.events.length >= count) return Promise.resolve();
    return within(10_000, `${count} control-channel events (${this.events.length} so far)`, new Promise((resolve) => this.#waiters.push({ count, resolve })));
  }

  #push(event: Event): void {
    this.events.push(event);
    this.#waiters = this.#waiters.filter((w) => (this.events.length >= w.count ? (w.resolve(), false) : true));
  }
}

/** The supervisor's end (receives worker messages) and the worker's end (receives supervisor messages). */
function pair(log: Logger, closeFds = false): {
  supervisor: ControlChannel<WorkerMessage, SupervisorMessage>;
  worker: ControlChannel<SupervisorMessage, WorkerMessage>;
  atSupervisor: Recorder<WorkerMessage>;
  atWorker: Recorder<SupervisorMessage>;
} {
  const [a, b] = native.socketpairSeqpacket();
  const atSupervisor = new Recorder<WorkerMessage>(closeFds);
  const atWorker = new Recorder<SupervisorMessage>(closeFds);
  return {
    supervisor: new ControlChannel(a, isWorkerMessage, atSupervisor.handlers, log),
    worker: new ControlChannel(b, isSupervisorMessage, atWorker.handlers, log),
    atSupervisor,
    atWorker,
  };
}

/**
 * A channel whose peer writes raw datagrams (anything, valid or not), with a file to send as fds; `body`
 * runs with both, and everything is closed after it.
 */
async function withRawPeer<In extends WorkerMessage | SupervisorMessage>(
  isMessage: (value: unknown) => value is In,
  body: (peer: { raw: number; fd: number; at: Recorder<In>; channel: ControlChannel<In, never>; entries: Array<Record<string, unknown>> }) => Promise<void>,
): Promise<void> {
  const { log, entries } = memoryLog();
  const [raw, end] = native.socketpairSeqpacket();
  const at = new Recorder<In>();
  const channel = new ControlChannel<In, never>(end, isMessage, at.handlers, log);
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-channel-'));
  const fd = openSync(join(dir, 'f'), 'w');
  try {
    await body({ raw, fd, at, channel, entries });
  } finally {
    closeSync(fd);
    native.close(raw);
    channel.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

const status = (n: number): WorkerMessage => ({ type: 'ready', generation: n, pid: 1 });

test('a valid message arrives with working, close-on-exec fds', async () => {
  const { log } = memoryLog();
  const { supervisor, worker, atSupervisor } = pair(log);
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-channel-'));
  const file = join(dir, 'target');
  const fileFd = openSync(file, 'w');
  const [near, far] = native.socketpairSeqpacket();
  try {
    const message: WorkerMessage = {
      type: 'commit',
      batch: null,
      entries: [{ seq: 1, ops: [{ op: 'put', record: { kind: 'lockspace', directory: dir }, fdIndex: 0 }], reply: null, ack: false }],
    };
    worker.send(message, [fileFd, far]);
    // The sender's copies are its own: closing them does not affect what travels.
    closeSync(fileFd);
    native.close(far);
    await atSupervisor.until(1);

    const [received] = atSupervisor.messages;
    assert.deepEqual(received!.message, message);
    assert.equal(received!.fds.length, 2);
    const [gotFile, gotSocket] = received!.fds as [number, number];
    assert.ok(received!.fds.every((fd) => native.getCloexec(fd)), 'received fds must be close-on-exec');

    // The file fd writes into the file we opened; the socket fd reaches the other end of our pair.
    writeSync(gotFile, 'written through a received fd');
    assert.equal(readFileSync(file, 'utf8'), 'written through a received fd');
    assert.equal(native.send(gotSocket, Buffer.from('ping'), 0, 4), 4);
    const buf = Buffer.alloc(16);
    assert.equal(native.recv(near, buf, 0, buf.length, false), 4);
    assert.equal(buf.subarray(0, 4).toString(), 'ping');
    received!.fds.forEach((fd) => native.close(fd));
  } finally {
    native.close(near);
    supervisor.close();
    worker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a message failing its schema is refused: fds closed, handler not called, refusal logged', async () => {
  await withRawPeer(isWorkerMessage, async ({ raw, fd, at, entries }) => {
    const baseline = openFdCount();
    // Each is well-formed JSON but not a worker message: unknown type, a supervisor message, a bad field.
    const invalid = [{ type: 'bogus' }, { type: 'drain' }, { type: 'ready', generation: -1, pid: 1 }, { type: 'booted', pid: 1, extra: true }];
    for (const message of invalid) native.sendWithFds(raw, Buffer.from(JSON.stringify(message)), [fd, fd, fd]);
    // A valid marker behind them: once it is handled, the invalid ones before it have been dealt with.
    native.sendWithFds(raw, Buffer.from(JSON.stringify(status(7))), []);
    await at.until(1);

    assert.deepEqual(at.events, [{ kind: 'message', message: status(7), fds: [] }], 'only the valid message reaches the handler');
    assert.equal(openFdCount(), baseline, 'the fds of refused messages must be closed');
    const refusals = entries.filter((e) => e.msg === 'refusing a control message that fails its schema');
    assert.equal(refusals.length, invalid.length);
    assert.deepEqual(refusals.map((e) => e.type), invalid.map((m) => m.type));
    assert.ok(refusals.every((e) => e.level === 50), 'a refusal is logged as an error');
  });
});

test('invalid JSON is refused the same way', async () => {
  await withRawPeer(isSupervisorMessage, async ({ raw, fd, at, channel, entries }) => {
    const baseline = openFdCount();
    const unreadable = ['{"type":"drain"', 'not json at all', '\u0000\u00ff', '{"type":"drain"}{"type":"drain"}'];
    for (const text of unreadable) native.sendWithFds(raw, Buffer.from(text, 'latin1'), [fd, fd]);
    native.sendWithFds(raw, Buffer.from(JSON.stringify({ type: 'resume' })), []);
    await at.until(1);

    assert.deepEqual(at.events, [{ kind: 'message', message: { type: 'resume' }, fds: [] }]);
    assert.equal(openFdCount(), baseline, 'the fds of unreadable messages must be closed');
    const refusals = entries.filter((e) => e.msg === 'refusing an unreadable control message');
    assert.deepEqual(refusals.map((e) => e.bytes), unreadable.map((t) => Buffer.byteLength(t, 'latin1')));
    assert.ok(refusals.every((e) => e.level === 50));
    assert.equal(channel.closed, false, 'garbage does not end the channel');
  });
});

test('a datagram larger than the channel reads is refused as truncated, with its fds', async () => {
  await withRawPeer(isSupervisorMessage, async ({ raw, fd, at, entries }) => {
    const baseline = openFdCount();
    // Valid JSON, but longer than CONTROL_DATAGRAM_MAX (192 KiB): the reader sees only its head.
    const oversized = JSON.stringify({ type: 'committed', seqs: Array.from({ length: 34_700 }, (_, i) => i) });
    assert.ok(oversized.length > 192 * 1024 && oversized.length < 200_000);
    native.sendWithFds(raw, Buffer.from(oversized), [fd, fd]);
    native.sendWithFds(raw, Buffer.from(JSON.stringify({ type: 'resume' })), []);
    await at.until(1);

    assert.deepEqual(at.events, [{ kind: 'message', message: { type: 'resume' }, fds: [] }]);
    assert.equal(openFdCount(), baseline);
    const refusals = entries.filter((e) => e.msg === 'refusing an unreadable control message');
    assert.equal(refusals.length, 1);
    assert.equal(refusals[0]!.bytes, 192 * 1024);
  });
});

test('messages arrive in the order they were sent, both ways', async () => {
  const { log } = memoryLog();
  const { supervisor, worker, atSupervisor, atWorker } = pair(log);
  try {
    const up: WorkerMessage[] = Array.from({ length: 500 }, (_, i) => status(i));
    const down: SupervisorMessage[] = Array.from({ length: 500 }, (_, i) => ({ type: 'committed', seqs: [i, i + 1] }));
    for (let i = 0; i < 500; i++) {
      worker.send(up[i]!);
      supervisor.send(down[i]!);
    }
    await Promise.all([atSupervisor.until(500), atWorker.until(500)]);
    assert.deepEqual(atSupervisor.messages.map((m) => m.message), up);
    assert.deepEqual(atWorker.messages.map((m) => m.message), down);
  } finally {
    supervisor.close();
    worker.close();
  }
});

test('a batch larger than the socket buffer (EAGAIN path) arrives complete and in order, queued fds then closed', async () => {
  const { log, entries } = memoryLog();
  // The receiver closes what it gets as it goes, like the supervisor does with fds it does not keep.
  const { supervisor, worker, atSupervisor } = pair(log, true);
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-channel-'));
  const fd = openSync(join(dir, 'f'), 'w');
  try {
    const baseline = openFdCount();
    const COUNT = 2000;
    // ~2 KiB each, 4 MB in all: far beyond a socket buffer, and nothing is read until this loop ends.
    const padding = 'x'.repeat(2000);
    const sent: WorkerMessage[] = [];
    for (let i = 0; i < COUNT; i++) {
      const message: WorkerMessage = { type: 'commit', batch: null, entries: [{ seq: i, ops: [{ op: 'drop', key: padding }], reply: null, ack: false }] };
      sent.push(message);
      worker.send(message, [fd]);
    }
    // What the kernel would not take waits in the sender's queue, each with its own dup of the fd.
    assert.ok(openFdCount() > baseline + 100, 'the sends should have hit EAGAIN and queued');
    assert.equal(atSupervisor.events.length, 0);

    await atSupervisor.until(COUNT);
    assert.deepEqual(atSupervisor.messages.map((m) => m.message), sent);
    assert.ok(atSupervisor.messages.every((m) => m.fds.length === 1), 'every message kept its fd');
    assert.equal(openFdCount(), baseline, 'queued dups and received fds must all be closed');
    assert.deepEqual(entries.filter((e) => (e.level as number) >= 50), []);
  } finally {
    closeSync(fd);
    supervisor.close();
    worker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a closed peer is reported after the messages it sent before closing (reader starts late)', async () => {
  const { log } = memoryLog();
  const [a, b] = native.socketpairSeqpacket();
  const sender = new ControlChannel<WorkerMessage, SupervisorMessage>(a, isWorkerMessage, { message: () => undefined, close: () => undefined }, log);
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-channel-'));
  const fd = openSync(join(dir, 'f'), 'w');
  try {
    const baseline = openFdCount();
    const last: SupervisorMessage[] = [{ type: 'committed', seqs: [1] }, { type: 'committed', seqs: [2, 3] }, { type: 'drain' }];
    sender.send(last[0]!, [fd]);
    sender.send(last[1]!);
    sender.send(last[2]!, [fd, fd]);
    sender.close();
    // Only now does anyone read b: the three messages wait in it behind the hang-up.
    const at = new Recorder<SupervisorMessage>();
    const receiver = new ControlChannel(b, isSupervisorMessage, at.handlers, log);
    await at.until(4);
    assert.deepEqual(
      at.events.map((e) => (e.kind === 'message' ? e.message : 'close')),
      [...last, 'close'],
    );
    assert.deepEqual(at.messages.map((m) => m.fds.length), [1, 0, 2]);
    assert.equal(receiver.closed, true);
    at.messages.forEach((m) => m.fds.forEach((f) => native.close(f)));
    // Both sockets of the pair are closed now, and so are the dups the sender queued.
    assert.equal(openFdCount(), baseline - 2);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a closed peer is reported after its last messages (reader already listening)', async () => {
  const { log } = memoryLog();
  const { supervisor, worker, atSupervisor } = pair(log);
  worker.send(status(1));
  worker.send(status(2));
  worker.send(status(3));
  worker.close();
  await atSupervisor.until(4);
  assert.deepEqual(
    atSupervisor.events.map((e) => (e.kind === 'message' ? e.message : 'close')),
    [status(1), status(2), status(3), 'close'],
  );
  assert.equal(supervisor.closed, true);
  assert.throws(() => supervisor.send({ type: 'drain' }), /closed/);
});

test('what one datagram could not carry goes as fragments and arrives whole', async () => {
  const { log } = memoryLog();
  const { supervisor, worker, atSupervisor } = pair(log, true);
  try {
    const tooMany = Array.from({ length: CONTROL_FDS_MAX + 1 }, () => 0);
    worker.send(status(1), tooMany);
    const huge: WorkerMessage = { type: 'commit', batch: null, entries: [{ seq: 1, ops: [{ op: 'drop', key: 'k'.repeat(200_000) }], reply: null, ack: false }] };
    worker.send(huge);
    await atSupervisor.until(2);
    assert.equal(atSupervisor.messages[0]!.fds.length, CONTROL_FDS_MAX + 1);
    assert.deepEqual(atSupervisor.messages[1]!.message, huge);
  } finally {
    supervisor.close();
    worker.close();
  }
});
