// Process-exit delivery for clients that were never closed. One pair of process listeners
// serves every client, so a program with many clients does not trip MaxListenersExceeded.
//
// - 'beforeExit' (the event loop ran dry): start an ordinary flush. Its piscina task keeps
//   the loop alive until the worker answers, then the process ends by itself.
// - 'exit' (process.exit(), an uncaught exception, or the end after beforeExit): the loop
//   will not turn again, so wait synchronously, in bounded Atomics.wait slices, while the
//   worker thread (which runs on until the listeners return) sends what is left.

export interface ExitParticipant {
  /** Begin delivering what is pending; must not throw. */
  onBeforeExit(): void;
  /** Deliver what is pending within the client's exit deadline; must not throw. */
  onExit(): void;
}

const participants = new Set<ExitParticipant>();
let installed = false;

function beforeExit(): void {
  for (const p of participants) p.onBeforeExit();
}

function exit(): void {
  for (const p of participants) p.onExit();
}

export function registerExit(p: ExitParticipant): void {
  participants.add(p);
  if (!installed) {
    installed = true;
    process.on("beforeExit", beforeExit);
    process.on("exit", exit);
  }
}

export function unregisterExit(p: ExitParticipant): void {
  participants.delete(p);
  if (participants.size === 0 && installed) {
    installed = false;
    process.off("beforeExit", beforeExit);
    process.off("exit", exit);
  }
}
