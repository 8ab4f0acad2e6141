// Stop signals for a run (as Lightning: honoured between steps). The first SIGINT / SIGTERM /
// SIGHUP asks the trainer to stop after the current step; the checkpoint callback then saves where
// it stopped. A second signal quits at once with the signal's exit code: it cannot land inside a
// checkpoint write, since writes are synchronous (a JS handler only runs between them) and go to a
// temp file renamed into place, so every checkpoint on disk stays whole.
//
// The handlers run because the trainer yields to the event loop after every batch (in-memory data
// never waits on I/O, so without that they would only run once the run had ended).
import type { Callback } from './events.ts';
import type { Trainer } from './trainer.ts';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** The shell's exit code for a run stopped by SIG: 130 for SIGINT, 143 for SIGTERM and SIGHUP. */
export const signalExitCode = (sig: StopSignal): number => (sig === 'SIGINT' ? 130 : 143);

/** The signal named by a stop reason `interrupted (SIGTERM)`, if it is one. */
export function stopSignal(stopReason: string | undefined): StopSignal | undefined {
  const m = /^interrupted \((SIG[A-Z]+)\)/.exec(stopReason ?? '');
  return m && (STOP_SIGNALS as readonly string[]).includes(m[1]!) ? (m[1] as StopSignal) : undefined;
}

export interface SignalStop {
  /** tells the handlers which trainer to stop (add it to the trainer's callbacks) */
  callback: Callback;
  /** the first signal received, if any */
  readonly signal: StopSignal | undefined;
  /** removes the handlers */
  dispose(): void;
}

/**
 * Installs the handlers for one run; add `callback` to the trainer's callbacks (it learns the
 * trainer in beforeFit) and call dispose() when the run ends.
 */
export function handleStopSignals(o: { log?: (line: string) => void } = {}): SignalStop {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let first: StopSignal | undefined;
  let trainer: Trainer | undefined;
  const handlers = new Map<StopSignal, () => void>();
  for (const sig of STOP_SIGNALS) {
    const h = () => {
      if (first === undefined) {
        first = sig;
        trainer?.requestStop(`interrupted (${sig})`);
        log(`graft: ${sig}: stopping after this step and saving a checkpoint (send it again to quit at once)`);
        return;
      }
      log(`graft: ${sig} again: quitting now; the checkpoints on disk are whole`);
      process.exit(signalExitCode(first));
    };
    handlers.set(sig, h);
    process.on(sig, h);
  }
  const callback: Callback = {
    order: -1000,
    beforeFit: (t) => {
      trainer = t;
      if (first) t.requestStop(`interrupted (${first})`);
    },
  };
  return {
    callback,
    get signal() {
      return first;
    },
    dispose() {
      for (const [sig, h] of handlers) process.off(sig, h);
    },
  };
}
