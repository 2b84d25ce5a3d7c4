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
