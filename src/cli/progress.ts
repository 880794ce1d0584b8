import cliProgress from 'cli-progress';

/** Progress on stderr: a bar on a terminal, a plain line every few seconds elsewhere, nothing when quiet. */
export interface Progress {
  update(done: number, failed: number): void;
  stop(): void;
}

/** `command` names the run in the bar and the plain lines (predict, evaluate, report). */
export function createProgress(total: number, mode: { enabled: boolean; tty: boolean }, command: string): Progress {
  if (!mode.enabled || total === 0) return { update() {}, stop() {} };
  const started = Date.now();
  if (mode.tty) {
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
