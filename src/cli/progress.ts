import type * as CliProgress from 'cli-progress';
import { createRequire } from 'node:module';
import type { RunHooks } from '../run/hooks.js';
import { withFlags, type CommandName } from './flags.js';

/** Progress on stderr: a bar on a terminal, a plain line every few seconds elsewhere, nothing when quiet. */
interface Progress {
  update(done: number, failed: number): void;
  stop(): void;
}

/** `command` names the run in the bar and the plain lines (predict, evaluate, report). */
function createProgress(total: number, mode: { enabled: boolean; tty: boolean }, command: string): Progress {
  if (!mode.enabled || total === 0) return { update() {}, stop() {} };
  const started = Date.now();
  if (mode.tty) {
    // loaded only to draw a bar: a quiet run, or one whose stderr is not a terminal, starts without it
    const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof CliProgress;
    const bar = new cliProgress.SingleBar(
      {
        format: `${command} [{bar}] {value}/{total} images | {rate} img/s | ETA {eta_formatted} | errors {failed}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: '0.0', failed: 0 });
    return {
      update(done, failed) {
        const seconds = (Date.now() - started) / 1000;
        bar.update(done, { rate: (done / Math.max(seconds, 1e-3)).toFixed(1), failed });
      },
      stop() {
        bar.stop();
      },
    };
  }
  let lastLine = started;
  return {
    update(done, failed) {
      const now = Date.now();
      if (now - lastLine < 10_000 || done === total) return;
      lastLine = now;
      const rate = done / ((now - started) / 1000);
      process.stderr.write(`mc-dropout ${command}: ${done}/${total} images, ${rate.toFixed(1)} img/s, ${failed} errors\n`);
    },
    stop() {},
  };
}

/**
 * The hooks a run's CLI command hands the library: warnings on stderr (flags named as flags; none
 * when quiet) and the progress bar, which `stop` ends (call it when the run returns or throws).
 */
export function cliHooks(command: CommandName, options: { quiet?: boolean; progress: boolean }): { hooks: RunHooks; stop: () => void } {
  let progress: Progress = { update() {}, stop() {} };
  return {
    hooks: {
      onWarning: (message) => {
        if (!options.quiet) process.stderr.write(`mc-dropout: warning: ${withFlags(message, command)}\n`);
      },
      onStart: (todo) => {
        progress = createProgress(todo, { enabled: !options.quiet && options.progress, tty: Boolean(process.stderr.isTTY) }, command);
      },
      onProgress: (done, failed) => progress.update(done, failed),
    },
    stop: () => progress.stop(),
  };
}
