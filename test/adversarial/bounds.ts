// Stops a daemon under test within a bound: SIGTERM, then SIGKILL if it is still there (a daemon stuck in
// a crash loop must not hang the suite).
import type { HoldfastHandle } from '../fixtures/holdfast-daemon';

export async function stopWithin(daemon: HoldfastHandle, ms: number): Promise<void> {
  const timer = setTimeout(() => daemon.process.kill('SIGKILL'), ms);
  try {
    await daemon.stop();
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`, or a rejection naming `what` once `ms` have passed without it settling. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
