// A control message bigger than one datagram (bytes or fds) travels as fragments over a real SEQPACKET
// socketpair and arrives whole, fds in order; a sender that dies after some fragments leaves nothing: no
// message is delivered and the fragments' fds are closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import pino from 'pino';
import { CONTROL_DATAGRAM_MAX, CONTROL_FDS_MAX, ControlChannel } from '../../src/shared/custody/channel';
import { isSupervisorMessage, isWorkerMessage, type CommitMessage, type SupervisorMessage, type WorkerMessage } from '../../src/shared/custody/messages';
import * as native from '../../src/shared/platform/native';
import { settleWithin } from '../fixtures/deadline';

const log = pino({ level: 'silent' });

function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

// A commit dropping `drops` records and putting `fds` lockspace records with fds: one change set.
function bigCommit(drops: number, fds: number): CommitMessage {
  const ops: CommitMessage['entries'][number]['ops'] = [];
  for (let i = 0; i < drops; i++) ops.push({ op: 'drop', key: `resource:["","/var/lib/libvirt/images/disk-${i}.qcow2"]` });
  for (let i = 0; i < fds; i++) ops.push({ op: 'put', record: { kind: 'lockspace', directory: `/l${i}` }, fdIndex: i });
  return { type: 'commit', batch: null, entries: [{ seq: 1, ops, reply: null, ack: false }] };
}

function receiver(fd: number): { channel: ControlChannel<WorkerMessage, SupervisorMessage>; got: Array<{ message: WorkerMessage; fds: number[] }>; closed: Promise<void> } {
  const got: Array<{ message: WorkerMessage; fds: number[] }> = [];
  let closed!: () => void;
  const done = new Promise<void>((resolve) => (closed = resolve));
  const channel = new ControlChannel<WorkerMessage, SupervisorMessage>(fd, isWorkerMessage, { message: (message, fds) => got.push({ message, fds }), close: () => closed() }, log);
  return { channel, got, closed: done };
}

test('a commit of many datagrams and more fds than one carries arrives whole', async () => {
  const [a, b] = native.socketpairSeqpacket();
  const sender = new ControlChannel<SupervisorMessage, WorkerMessage>(b, isSupervisorMessage, { message: () => undefined, close: () => undefined }, log);
  const { channel, got } = receiver(a);
  const files = Array.from({ length: CONTROL_FDS_MAX * 2 + 7 }, () => native.dupCloexec(0));
  const message = bigCommit(5000, files.length);
  assert.ok(Buffer.byteLength(JSON.stringify(message)) > 2 * CONTROL_DATAGRAM_MAX);
  sender.send(message, files);
  await sender.flushed();
  await settleWithin(() => got.length > 0, 5_000, 5);
  assert.equal(got.length, 1);
  assert.deepEqual(got[0]!.message, message);
  assert.equal(got[0]!.fds.length, files.length);
  got[0]!.fds.forEach((fd) => native.close(fd));
  files.forEach((fd) => native.close(fd));
  sender.close();
  channel.close();
});

test('fragments of a message whose sender dies before the last are discarded, fds closed', async () => {
  const [a, b] = native.socketpairSeqpacket();
  const baseline = openFdCount();
  const { got, closed } = receiver(a);
  // What a sender that died halfway left: two marked fragments with fds, no last one.
  const payload = Buffer.from(JSON.stringify(bigCommit(3000, 0)));
  for (const part of [payload.subarray(0, 1000), payload.subarray(1000, 2000)]) {
    const fds = [native.dupCloexec(0), native.dupCloexec(0)];
    native.sendWithFds(b, Buffer.concat([Buffer.from([1]), part]), fds);
    fds.forEach((fd) => native.close(fd));
  }
  native.close(b);
  await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('no hang-up within 5 s')), 5_000))]);
  assert.equal(got.length, 0, 'nothing delivered');
  // Both ends of the pair are closed too (ours above, the receiver's on hang-up): 2 below the baseline.
  assert.equal(openFdCount(), baseline - 2, 'the fragments\' fds are closed');
});
