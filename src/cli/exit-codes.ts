import { EXIT } from '../errors.js';

/** Every exit status of every command: the library's one table (errors.ts), here for the CLI's modules. */
export { EXIT };

export const EXIT_CODE_TABLE: readonly [number, string][] = [
  [EXIT.ok, 'success: every image predicted (inspect: MC-ready; doctor: the GPU would be used)'],
  [
    EXIT.partial,
    'predict: some images failed, their rows say why, every other row is written (evaluate, report: some images failed and are left out); inspect: not MC-ready; doctor: CUDA not ready',
  ],
  [EXIT.usage, 'usage error: a bad option, no input images, or an input or output path that cannot be used (named in the message)'],
  [EXIT.model, 'model error: the model file is missing, unreadable or unusable (e.g. batch-dependent), or the execution provider failed'],
  [EXIT.internal, 'internal error: a bug in mc-dropout (the message carries a stack trace to report)'],
  [
    EXIT.output,
    'an output could not be written: disk full, quota, read-only file system or I/O error, named in the message (no file is left under its final name half written; finished rows stay in the .partial: free space, then rerun with --resume)',
  ],
  [EXIT.sighup, 'stopped by SIGHUP: predict saves its finished rows (rerun with --resume); calibrate, evaluate and report write nothing (rerun)'],
  [EXIT.sigint, 'stopped by SIGINT (Ctrl-C): predict saves its finished rows (rerun with --resume); calibrate, evaluate and report write nothing (rerun)'],
  [EXIT.brokenPipe, "stdout's reader went away (output piped into head), as for other Unix tools"],
  [
    EXIT.sigterm,
    'stopped by SIGTERM (Slurm, Kubernetes, systemd): predict saves its finished rows (rerun with --resume); calibrate, evaluate and report write nothing (rerun)',
  ],
];

/** The table as --help prints it. */
export function exitCodeHelp(): string {
  return `\nExit codes (every command):\n${EXIT_CODE_TABLE.map(([code, meaning]) => `  ${String(code).padEnd(4)} ${meaning}`).join('\n')}`;
}
