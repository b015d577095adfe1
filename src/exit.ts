// Process-exit delivery for clients that were never closed. One set of process listeners
// serves every client, so a program with many clients does not trip MaxListenersExceeded.
//
// - 'beforeExit' (the event loop ran dry): start an ordinary flush. Its piscina task keeps
//   the loop alive until the worker answers, then the process ends by itself.
// - 'exit' (process.exit(), an uncaught exception, or the end after beforeExit): the loop
//   will not turn again, so wait synchronously, in bounded Atomics.wait slices, while the
//   worker thread (which runs on until the listeners return) sends or spools what is left.
// - SIGINT / SIGTERM skip 'exit' altogether: do the same synchronous delivery, then, if no
//   one else listens for the signal, raise it again so that it takes its usual effect.

export interface ExitParticipant {
  /** Begin delivering what is pending; must not throw. */
  onBeforeExit(): void;
  /** Deliver or keep on disk what is pending, within the client's exit deadline; must not throw. */
  onExit(): void;
  /** Whether this participant wants SIGINT/SIGTERM handled. */
  readonly handlesSignals: boolean;
}

const SIGNALS = ["SIGINT", "SIGTERM"] as const;
const participants = new Set<ExitParticipant>();
let installed = false;
let signalsInstalled = false;

function beforeExit(): void {
  for (const p of participants) p.onBeforeExit();
}

function exit(): void {
  for (const p of participants) p.onExit();
}

function onSignal(signal: NodeJS.Signals): void {
  for (const p of participants) if (p.handlesSignals) p.onExit();
  uninstallSignals();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installSignals(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstallSignals(): void {
  if (!signalsInstalled) return;
  signalsInstalled = false;
  for (const s of SIGNALS) process.off(s, onSignal);
}

export function registerExit(p: ExitParticipant): void {
  participants.add(p);
  if (!installed) {
    installed = true;
    process.on("beforeExit", beforeExit);
    process.on("exit", exit);
  }
  if (p.handlesSignals) installSignals();
}

export function unregisterExit(p: ExitParticipant): void {
  participants.delete(p);
  if (![...participants].some((q) => q.handlesSignals)) uninstallSignals();
  if (participants.size === 0 && installed) {
    installed = false;
    process.off("beforeExit", beforeExit);
    process.off("exit", exit);
  }
}
