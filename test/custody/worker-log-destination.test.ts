// A worker starts logging with a bootstrap logger (warnings, JSON on stderr) because its log settings come
// with `init`. From `init` on, everything it logs — its control channel and its custody link included — must
// go where the settings say. The test plays the supervisor: it spawns the worker's entry point with the
// channel on fd 3, configures it to log at debug into a file, then sends what makes the link and the
// channel each log a line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ControlChannel } from '../../src/shared/custody/channel';
import { isWorkerMessage, type SupervisorMessage, type WorkerMessage, type WorkerSettings } from '../../src/shared/custody/messages';
import * as native from '../../src/shared/platform/native';
import { guardedNodeFlags, guardedPreload } from '../../src/supervisor/guarded-runtime';

const WORKER_MAIN = join(__dirname, '..', '..', 'src', 'worker', 'main.js');

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('once configured, the worker\'s control channel and custody link log to the configured output, not to stderr', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-worker-log-'));
  const logFile = join(dir, 'worker.log');
  const [ours, theirs] = native.socketpairSeqpacket();
  const child = spawn(process.execPath, [...guardedNodeFlags(), WORKER_MAIN], {
    stdio: ['ignore', 'pipe', 'pipe', theirs],
    env: { ...process.env, LD_PRELOAD: guardedPreload(process.env.LD_PRELOAD) },
  });
  native.close(theirs);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const received: WorkerMessage[] = [];
  const channel = new ControlChannel<WorkerMessage, SupervisorMessage>(
    ours,
    isWorkerMessage,
    { message: (message, fds) => (fds.forEach((fd) => native.close(fd)), received.push(message)), close: () => undefined },
    pino({ level: 'silent' }),
  );
  const listener = native.listenUnix(join(dir, 'sock'), 16);
  const pipe = native.pipe(1024 * 1024);
  try {
    await until('booted', () => received.some((m) => m.type === 'booted'));
    const settings: WorkerSettings = {
      maxClients: 16,
      adminMaxClients: 4,
      allowedUid: process.geteuid!(),
      ownerKillTermGraceMs: 1000,
      ownerKillGiveUpMs: 1000,
      frameMaxBytesPerClient: 1024 * 1024,
      frameMaxBytesTotal: 16 * 1024 * 1024,
      frameDeadlineMs: 10_000,
      logLevel: 1,
      logFormat: 'json',
      logOutputs: `1:file:${logFile}`,
      logFilters: '',
    };
    channel.send(
      {
        type: 'init',
        generation: 1,
        settings,
        listeners: [{ name: 'lock', fdIndex: 0 }],
        expectedRecords: 0,
        nextClientId: 1,
        replyPipe: { read: 1, write: 2, capacity: pipe.capacity },
        poisoned: [],
        suspects: [],
      },
      [listener, pipe.read, pipe.write],
    );
    await until('ready', () => received.some((m) => m.type === 'ready'));
    // The custody link is told of a commit it never made; the channel gets a message that fails its schema.
    channel.send({ type: 'committed', seqs: [424242] });
    channel.send({ type: 'no-such-message' } as unknown as SupervisorMessage);
    const logged = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    await until('both lines in the log file', () => logged().includes('acknowledgement for an unknown commit') && logged().includes('refusing a control message that fails its schema'));
    assert.doesNotMatch(stderr, /acknowledgement for an unknown commit/);
    assert.doesNotMatch(stderr, /refusing a control message/);
  } finally {
    if (!channel.closed) channel.send({ type: 'shutdown' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    channel.close();
    for (const fd of [listener, pipe.read, pipe.write]) native.close(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});
