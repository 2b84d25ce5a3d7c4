// A real unix stream connection for custody tests: the accepted side as a raw fd (what the daemon holds),
// the client side as a node socket that gathers what it receives.
import net from 'node:net';
import { join } from 'node:path';
import * as native from '../../src/shared/platform/native';
import { waitFor, within } from '../fixtures/deadline';

export interface UnixConnection {
  /** The accepted side: non-blocking, close-on-exec, owned by the caller (or whoever it hands it to). */
  fd: number;
  peer: net.Socket;
  /** Everything the client side has received so far. */
  received(): Buffer;
  close(): void;
}

let counter = 0;

/** Connects to a fresh listening socket in `dir` and accepts; the listener is closed again at once. */
export async function unixConnection(dir: string): Promise<UnixConnection> {
  const path = join(dir, `listen-${process.pid}-${++counter}`);
  const listenFd = native.listenUnix(path, 4);
  try {
    const peer = net.connect(path);
    await within(5_000, 'connect', new Promise<void>((resolve, reject) => peer.once('connect', resolve).once('error', reject)));
    const fd = await waitFor(() => native.accept(listenFd), 5_000, 'the accepted connection');
    const chunks: Buffer[] = [];
    peer.on('data', (c: Buffer) => chunks.push(c));
    peer.on('error', () => undefined);
    return { fd, peer, received: () => Buffer.concat(chunks), close: () => peer.destroy() };
  } finally {
    native.close(listenFd);
  }
}
