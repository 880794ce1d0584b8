/**
 * Whether a calibration's guarantee holds for the run it is applied in: its temperature and set
 * thresholds are fitted on the MC means of T passes at the model's dropout rates, so another T,
 * adaptive T, another rate or a deterministic pass gives scores it was not fitted on.
 * (checkCalibrationFits refuses another model or preprocessing; this module compares the passes.)
 */
import { param, UsageError } from '../errors.js';
import type { Calibration } from './calibration.js';

/** What a run that applies a calibration does with its passes. */
export interface CalibratedRunSettings {
  /** T, or 'auto' for adaptive T. */
  passes: number | 'auto';
  /** Dropout off, one pass. */
  deterministic: boolean;
  /** The drop rate of each random-mask site of this run's passes (the model's, or as overridden). */
  dropoutRates?: readonly number[] | undefined;
  /** The rate given for every site, overriding the model's (undefined: the model's own). */
  dropoutRate?: number | undefined;
}

/**
 * Each way `run` differs from the passes `calibration` was fitted on, as a phrase naming the
 * setting, the fitted value and the current one; empty when none is known. A calibration that
 * records no rates (format 1, or fitted on a passes file recorded without them) cannot be checked
 * for the rate: that is said too.
 */
export function calibrationMismatches(calibration: Pick<Calibration, 'passes' | 'dropoutRates'>, run: CalibratedRunSettings): string[] {
  const found: string[] = [];
  if (run.deterministic) found.push(`a deterministic pass (dropout off), where it was fitted on the mean of ${calibration.passes} MC passes`);
  else if (run.passes === 'auto') found.push(`adaptive T (${param('passes')} auto), where it was fitted at T=${calibration.passes}`);
  else if (run.passes !== calibration.passes) found.push(`T=${run.passes} (${param('passes')}), where it was fitted at T=${calibration.passes}`);
  if (run.dropoutRates !== undefined && !run.deterministic) {
    const fitted = calibration.dropoutRates;
    const shown = (rates: readonly number[]) => (new Set(rates).size === 1 ? String(rates[0]) : `[${rates.join(', ')}]`);
    if (fitted === undefined) {
      // an older file: only a rate the user changed is worth a word
      if (run.dropoutRate !== undefined)
        found.push(`${param('dropoutRate')} ${run.dropoutRate}, while the calibration file does not record the rates it was fitted at`);
    } else if (JSON.stringify(fitted) !== JSON.stringify(run.dropoutRates))
      found.push(`dropout rates ${shown(run.dropoutRates)} (${param('dropoutRate')}), where it was fitted at ${shown(fitted)}`);
  }
  return found;
}

/**
 * Applies the decision of docs/calibration.md: a deterministic run is refused (UsageError: the
 * calibration was fitted on MC means, and no calibration of a deterministic pass exists to use
 * instead); any other mismatch is one warning naming the file, the fitted and current settings, and
 * that coverage is no longer guaranteed (the user may apply it knowingly).
 */
export function checkCalibrationRun(
  calibration: Pick<Calibration, 'passes' | 'dropoutRates'>,
  file: string,
  run: CalibratedRunSettings,
  warn: (message: string) => void,
): void {
  if (run.deterministic) {
    throw new UsageError(
      `The calibration ${file} holds for the mean of ${calibration.passes} MC passes; a deterministic pass (dropout off) gives other probabilities, so its temperature and sets do not apply to it: drop ${param('deterministic')}, or drop ${param('calibration')}`,
    );
  }
  const mismatches = calibrationMismatches(calibration, run);
  if (mismatches.length === 0) return;
  const otherPasses = run.passes !== calibration.passes;
  const otherRates = calibration.dropoutRates !== undefined && JSON.stringify(calibration.dropoutRates) !== JSON.stringify(run.dropoutRates);
  const fixes = [
    ...(otherPasses ? [`run with ${param('passes')} ${calibration.passes}`] : []),
    ...(otherRates || (calibration.dropoutRates === undefined && run.dropoutRate !== undefined) ? [`use the dropout rates it was calibrated at`] : []),
  ];
  warn(
    `The calibration ${file} ${otherPasses || otherRates ? 'was fitted on other passes than this run makes' : 'cannot be checked against this run'}: ${mismatches.join('; ')}. Its temperature and set threshold hold only for scores like those they were fitted on, so coverage is no longer guaranteed: ${fixes.join(' and ')}, or calibrate again with this run's settings`,
  );
}
