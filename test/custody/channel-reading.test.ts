// The supervisor's reading of a control channel over a real SEQPACKET socketpair, as it reads a worker's
// commits: under steady traffic every message arrives exactly once and in order, the reader goes on after a
// quiet spell, leaves messages queued while reading is paused, and reports a hang-up only after the
// messages sent before it. It reads several datagrams per system call: a handler that reads the channel
// again mid-batch, or throws, must lose and repeat nothing, and what a batch holds undelivered must count
// as read (a carry refuses then).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ControlChannel } from '../../src/shared/custody/channel';
import { isSupervisorMessage, isWorkerMessage, type SupervisorMessage, type WorkerMessage } from '../../src/shared/custody/messages';
import * as native from '../../src/shared/platform/native';
import { waitFor } from '../fixtures/deadline';

// The pace of the senders' bursts.
const PERIOD_MS = 1;
const log = pino({ level: 'silent' });
const ready = (n: number): WorkerMessage => ({ type: 'ready', generation: n, pid: 1 });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A reader (as the supervisor reads a worker) and a sender, with what the reader got. */
function readerPair(): {
  reader: ControlChannel<WorkerMessage, SupervisorMessage>;
  sender: ControlChannel<SupervisorMessage, WorkerMessage>;
  got: number[];
  closed: () => boolean;
} {
  const [a, b] = native.socketpairSeqpacket();
  const got: number[] = [];
  let closed = false;
  const reader = new ControlChannel<WorkerMessage, SupervisorMessage>(
    a,
    isWorkerMessage,
    {
      message: (message, fds) => {
        fds.forEach((fd) => native.close(fd));
        if (closed) throw new Error('a message after the hang-up');
        if (message.type === 'ready') got.push(message.generation);
      },
      close: () => (closed = true),
    },
    log,
  );
  const sender = new ControlChannel<SupervisorMessage, WorkerMessage>(b, isSupervisorMessage, { message: () => undefined, close: () => undefined }, log);
  return { reader, sender, got, closed: () => closed };
}

const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

test('messages sent steadily in many bursts each arrive once, in order; the reader answers meanwhile', async () => {
  const { reader, sender, got } = readerPair();
  try {
    let sent = 0;
    // A trickle of bursts: some land while a read is under way, some between reads.
    for (let burst = 0; burst < 60; burst++) {
      for (let i = 0; i < 1 + (burst % 7); i++) sender.send(ready(sent++));
      // The reader sends while it reads (as acknowledgements go back): reading must go on.
      reader.send({ type: 'committed', seqs: [burst] });
      await sleep(burst % 3 === 0 ? 0 : PERIOD_MS);
    }
    await waitFor(() => got.length >= sent, 10_000, () => `${sent} messages (${got.length} so far)`);
    await sleep(20 * PERIOD_MS);
    assert.deepEqual(got, upTo(sent));
  } finally {
    reader.close();
    sender.close();
  }
});

test('after a quiet spell the reader waits for input again, and the next message still arrives', async () => {
  const { reader, sender, got } = readerPair();
  try {
    for (let i = 0; i < 50; i++) sender.send(ready(i));
    await waitFor(() => got.length >= 50, 10_000, () => `50 messages (${got.length} so far)`);
    // A spell with nothing to read.
    await sleep(30 * PERIOD_MS);
    sender.send(ready(50));
    await waitFor(() => got.length >= 51, 10_000, () => `the message after the quiet spell (${got.length} so far)`);
    assert.deepEqual(got, upTo(51));
  } finally {
    reader.close();
    sender.close();
  }
});

test('paused in the middle of steady traffic, the reader leaves every later message queued; resumed, it reads them all', async () => {
  const { reader, sender, got } = readerPair();
  try {
    let sent = 0;
    for (let burst = 0; burst < 10; burst++) {
      for (let i = 0; i < 5; i++) sender.send(ready(sent++));
      await sleep(PERIOD_MS);
    }
    reader.pauseReading();
    const atPause = got.length;
    for (let i = 0; i < 40; i++) sender.send(ready(sent++));
    await sleep(20 * PERIOD_MS);
    assert.equal(got.length, atPause, 'nothing is read while reading is paused');
    assert.ok(native.queuedIn(reader.fd) > 0, 'the messages wait in the socket');
    reader.resumeReading();
    await waitFor(() => got.length >= sent, 10_000, () => `${sent} messages after resuming (${got.length} so far)`);
    assert.deepEqual(got, upTo(sent));
  } finally {
    reader.close();
    sender.close();
  }
});

test('a hang-up in the middle of steady traffic is reported after every message sent before it', async () => {
  const { reader, sender, got, closed } = readerPair();
  try {
    let sent = 0;
    for (let burst = 0; burst < 20; burst++) {
      for (let i = 0; i < 3; i++) sender.send(ready(sent++));
      if (burst < 19) await sleep(PERIOD_MS);
    }
    sender.close();
    await waitFor(() => closed(), 10_000, 'the hang-up');
    assert.deepEqual(got, upTo(sent));
  } finally {
    reader.close();
  }
});

test('a handler that drains and closes the channel in the middle of a batch still gets every message once, in order', async () => {
  const [a, b] = native.socketpairSeqpacket();
  const sender = new ControlChannel<SupervisorMessage, WorkerMessage>(b, isSupervisorMessage, { message: () => undefined, close: () => undefined }, log);
  // Queued before the reader exists, so its first read takes them several to a call.
  const total = 30;
  for (let i = 0; i < total; i++) sender.send(ready(i));
  sender.close();
  const got: number[] = [];
  let closes = 0;
  const reader: ControlChannel<WorkerMessage, SupervisorMessage> = new ControlChannel<WorkerMessage, SupervisorMessage>(
    a,
    isWorkerMessage,
    {
      message: (message) => {
        if (message.type !== 'ready') return;
        got.push(message.generation);
        // A dead worker's last words are read from inside a handler (the supervisor settling it).
        if (message.generation === 2) reader.drainAndClose();
      },
      close: () => closes++,
    },
    log,
  );
  await waitFor(() => closes > 0, 10_000, 'the close');
  assert.deepEqual(got, upTo(total));
  assert.equal(closes, 1);
});

test('datagrams of a batch a throwing handler left behind count as read but not delivered, and come next, in order', async () => {
  const [a, b] = native.socketpairSeqpacket();
  const sender = new ControlChannel<SupervisorMessage, WorkerMessage>(b, isSupervisorMessage, { message: () => undefined, close: () => undefined }, log);
  const got: number[] = [];
  let thrown = false;
  const reader = new ControlChannel<WorkerMessage, SupervisorMessage>(
    a,
    isWorkerMessage,
    {
      message: (message) => {
        if (message.type !== 'ready') return;
        got.push(message.generation);
        if (message.generation === 1 && !thrown) {
          thrown = true;
          throw new Error('handler failure');
        }
      },
      close: () => undefined,
    },
    log,
  );
  try {
    for (let i = 0; i < 5; i++) sender.send(ready(i));
    // Read synchronously, before the event loop sees the input, so the failure surfaces here.
    assert.throws(() => reader.drainAndClose(), /handler failure/);
    assert.deepEqual(got, [0, 1]);
    assert.equal(reader.closed, false);
    assert.equal(reader.assembling, true, 'the rest of the batch is held, not delivered');
    // The next readiness (another message) delivers what was held first.
    sender.send(ready(5));
    await waitFor(() => got.length >= 6, 10_000, () => `every message (${got.length} so far)`);
    assert.deepEqual(got, upTo(6));
    assert.equal(reader.assembling, false);
  } finally {
    reader.close();
    sender.close();
  }
});
