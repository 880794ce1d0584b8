import { calibrationJson } from '../calibration/calibration-file.js';
import { calibrationWarnings } from '../calibration/calibration.js';
import type { ConformalScore } from '../conformal/sets.js';
import { UsageError } from '../errors.js';
import { writeFileAtomicSync, writeToStream } from '../io/durable.js';
import { outputIdentities, outputTarget } from '../io/targets.js';
import { calibrateEarlierRun, runCalibration } from '../run/calibrate-run.js';
import { EXIT } from './exit-codes.js';
import { cliHooks } from './progress.js';
import { catchStopSignals } from './stop-signals.js';
import { labeledRunConfig, type RunCliOptions } from './run-options.js';

/** Typed options of `calibrate`. */
export interface CalibrateCliOptions extends RunCliOptions {
  times: number;
  truth?: string;
  output: string;
  miscoverage: number;
  score: ConformalScore;
  lambda?: number;
  kReg?: number;
  randomized: boolean;
  classConditional?: boolean;
  setSeed?: number;
  from?: string;
}

/** `mc-dropout calibrate`: fits the temperature and the conformal sets on labeled images and writes the calibration JSON. */
export async function runCalibrate(paths: string[], options: CalibrateCliOptions, version: string): Promise<number> {
  const target = outputTarget(options.output, 'the calibration');
  if (options.score !== 'raps' && (options.lambda !== undefined || options.kReg !== undefined)) {
    throw new UsageError(`--lambda and --k-reg apply to --score raps, not ${options.score}`);
  }
  const conformal = {
    alpha: options.miscoverage,
    score: options.score,
    ...(options.lambda !== undefined && { lambda: options.lambda }),
    ...(options.kReg !== undefined && { kReg: options.kReg }),
    randomized: options.randomized,
    classConditional: options.classConditional ?? false,
    ...(options.setSeed !== undefined && { seed: options.setSeed }),
  };
  const { hooks, stop } = cliHooks('calibrate', options);
  const stops = catchStopSignals();
  const note = `calibrate writes ${target.kind === 'file' ? options.output : 'the calibration'} only once every image is done, so nothing was written: rerun the same command`;
  let outcome;
  try {
    if (options.from !== undefined && (paths.length > 0 || options.list || options.list0))
      throw new UsageError("Give images to run, or --from an earlier run's passes, not both");
    outcome =
      options.from !== undefined
        ? calibrateEarlierRun({ from: options.from, ...(options.truth && { truthFile: options.truth }), conformal, outputs: outputIdentities([target]) }, hooks)
        : await runCalibration({ ...labeledRunConfig(paths, options), outputs: outputIdentities([target]), conformal }, stops.hooks(hooks));
  } catch (error) {
    if (!stops.stoppedBy()) throw error;
    stop();
    return stops.stopped(note);
  } finally {
    stop();
    stops.release();
  }
  // a signal during a fit that does not stop (--from) still ends the command before it writes
  if (stops.stoppedBy()) return stops.stopped(note);
  const { calibration: c } = outcome;
  const text = calibrationJson(c, { version });
  if (target.kind === 'file') writeFileAtomicSync(target.file, text);
  else if (target.kind === 'stream') writeToStream(target.path, text);
  else process.stdout.write(text);
  for (const warning of calibrationWarnings(c)) hooks.onWarning?.(warning);
  if (!options.quiet) {
    const sets = c.conformal;
    process.stderr.write(
      `mc-dropout: calibrated on ${c.images} images (T=${c.passes}, seed ${c.seed})${outcome.unlabeled ? `, ${outcome.unlabeled} without a true class left out` : ''}${outcome.failed ? `, ${outcome.failed} failed` : ''}\n` +
        `  temperature ${c.temperature.toFixed(4)}: NLL ${c.before.nll.toFixed(4)} -> ${c.after.nll.toFixed(4)}, ECE ${c.before.ece.toFixed(4)} -> ${c.after.ece.toFixed(4)}\n` +
        `  ${sets.score.toUpperCase()} sets at alpha ${sets.alpha}${sets.classConditional ? ' (per class)' : ''}: threshold ${sets.threshold.toFixed(6)}${target.kind === 'file' ? `; wrote ${options.output}` : ''}\n`,
    );
  }
  return outcome.failed > 0 ? EXIT.partial : EXIT.ok;
}
