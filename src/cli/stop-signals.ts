/** SIGINT, SIGTERM and SIGHUP while a command runs: stop after the image in hand, say so, exit with the signal's status. */
import type { RunHooks } from '../run/hooks.js';
import { EXIT } from './exit-codes.js';

/** The signals a batch system sends before it kills a job, and the exit status each one ends with. */
const STOP_SIGNALS = [
  ['SIGINT', EXIT.sigint],
  ['SIGTERM', EXIT.sigterm],
  ['SIGHUP', EXIT.sighup],
] as const;

/** A stop signal that arrived, with the exit status it ends the command with. */
type StoppedBy = (typeof STOP_SIGNALS)[number];

/** The stop signals caught for one command, and how far its run got. */
export interface StopSignals {
  /** Aborted by the first stop signal: the library stops after the image in hand. */
  signal: AbortSignal;
  /** The first stop signal, once one arrived. */
  stoppedBy(): StoppedBy | undefined;
  /** `hooks` with the abort signal, counting the images done for the message. */
  hooks: (hooks: RunHooks) => RunHooks;
  /** "stopped by SIGTERM after 7 of 50 images" (without the count when no image was started). */
  describe(): string;
  /** Writes "mc-dropout: stopped by SIGTERM after 7 of 50 images; `note`" on stderr and returns the signal's exit status. */
  stopped(note: string): number;
  /** Stops catching the signals. */
  release(): void;
}

/**
 * Catches the stop signals until `release`: the first aborts `signal`, a second exits at once (a
 * command that writes its output only at the end has nothing half written under its final name).
 */
export function catchStopSignals(): StopSignals {
  const controller = new AbortController();
  let stoppedBy: StoppedBy | undefined;
  let done = 0;
  let todo: number | undefined;
  const describe = () => `stopped by ${stoppedBy?.[0] ?? 'a signal'}${todo !== undefined ? ` after ${done} of ${todo} images` : ''}`;
  const handlers = STOP_SIGNALS.map((entry) => {
    const handler = () => {
      if (stoppedBy) process.exit(stoppedBy[1]);
      stoppedBy = entry;
      controller.abort();
    };
    process.on(entry[0], handler);
    return [entry[0], handler] as const;
  });
  return {
    signal: controller.signal,
    stoppedBy: () => stoppedBy,
    hooks: (hooks) => ({
      ...hooks,
      signal: controller.signal,
      onStart: (n) => {
        todo = n;
        hooks.onStart?.(n);
      },
      onProgress: (d, failed) => {
        done = d;
        hooks.onProgress?.(d, failed);
      },
    }),
    describe,
    stopped: (note) => {
      process.stderr.write(`mc-dropout: ${describe()}; ${note}\n`);
      return stoppedBy?.[1] ?? EXIT.sigterm;
    },
    release: () => {
      for (const [name, handler] of handlers) process.removeListener(name, handler);
    },
  };
}
