// The first module every holdfast daemon image runs: from here on no signal is lost or left to its default
// action. Until this line the preloaded signal guard holds them (see native/signal_guard.c; an image
// started without it gets the same handlers here); from it on, these listeners do, and queue what nobody
// handles yet (a SIGUSR2 during a restore, a SIGTERM before the supervisor can stop) until the process
// registers its handler for it.
import * as native from './native';

/** The signals that ask a holdfast process for something; every other one is caught and ignored. */
export const REQUEST_SIGNALS = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2'] as const;
export type RequestSignal = (typeof REQUEST_SIGNALS)[number];

const handlers = new Map<RequestSignal, (signal: RequestSignal) => void>();
// Signals coalesce in the kernel too: one queued entry per kind, in arrival order.
const queued: RequestSignal[] = [];

function isRequestSignal(name: string): name is RequestSignal {
  return (REQUEST_SIGNALS as readonly string[]).includes(name);
}

function receive(signal: RequestSignal): void {
  const handler = handlers.get(signal);
  if (handler) handler(signal);
  else if (!queued.includes(signal)) queued.push(signal);
}

if (!native.signalGuard.loaded()) native.signalGuard.installHere();
for (const signal of REQUEST_SIGNALS) process.on(signal, () => receive(signal));
native.signalGuard.guardFaults();
// What came before the listeners existed (the guard ignores every other kind, as we would).
for (const signal of native.signalGuard.take()) if (isRequestSignal(signal)) receive(signal);
// Under --disable-sigusr1 Node starts with SIGUSR1 blocked; with a listener in place it may come now.
native.blockGuardedSignals(false);

/**
 * Handles `signal` from now on (replacing any earlier handler); one that came before is handled on the
 * next turn of the event loop.
 */
export function onSignal(signal: RequestSignal, handler: (signal: RequestSignal) => void): void {
  handlers.set(signal, handler);
  const at = queued.indexOf(signal);
  if (at === -1) return;
  queued.splice(at, 1);
  setImmediate(() => receive(signal));
}

/** Re-delivers signals an aborted exec caught (see native.execLatch): as if they had just arrived. */
export function redeliver(signals: readonly string[]): void {
  for (const signal of signals) if (isRequestSignal(signal)) setImmediate(() => receive(signal));
}
