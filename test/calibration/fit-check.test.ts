/** calibrationMismatches: every way a run's passes differ from a calibration's, and none when they agree (#34). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calibrationMismatches, checkCalibrationRun } from '../../src/calibration/fit-check.js';
import { UsageError } from '../../src/errors.js';

const fitted = { passes: 10 };

describe('calibrationMismatches', () => {
  it('is empty for the T it was fitted at, with the model own rates', () => {
    assert.deepEqual(calibrationMismatches(fitted, { passes: 10, deterministic: false }), []);
  });

  it('names another T, adaptive T and a deterministic pass with the fitted and current setting', () => {
    assert.deepEqual(calibrationMismatches(fitted, { passes: 5, deterministic: false }), ['T=5 (`passes`), where it was fitted at T=10']);
    assert.deepEqual(calibrationMismatches(fitted, { passes: 'auto', deterministic: false }), ['adaptive T (`passes` auto), where it was fitted at T=10']);
    assert.deepEqual(calibrationMismatches(fitted, { passes: 10, deterministic: true }), [
      'a deterministic pass (dropout off), where it was fitted on the mean of 10 MC passes',
    ]);
  });

  it('reports a dropoutRate as unchecked when the file does not record the rates (format 1), beside another T', () => {
    assert.deepEqual(calibrationMismatches(fitted, { passes: 3, deterministic: false, dropoutRates: [0.3], dropoutRate: 0.3 }), [
      'T=3 (`passes`), where it was fitted at T=10',
      '`dropoutRate` 0.3, while the calibration file does not record the rates it was fitted at',
    ]);
    assert.deepEqual(calibrationMismatches(fitted, { passes: 10, deterministic: false, dropoutRates: [0.5] }), []);
  });

  it("compares the recorded rates with the run's, site by site", () => {
    const recorded = { passes: 10, dropoutRates: [0.2, 0.5] };
    assert.deepEqual(calibrationMismatches(recorded, { passes: 10, deterministic: false, dropoutRates: [0.2, 0.5] }), []);
    assert.deepEqual(calibrationMismatches(recorded, { passes: 10, deterministic: false, dropoutRates: [0.3, 0.3], dropoutRate: 0.3 }), [
      'dropout rates 0.3 (`dropoutRate`), where it was fitted at [0.2, 0.5]',
    ]);
  });
});

describe('checkCalibrationRun', () => {
  it('refuses a deterministic run, warns once for other passes, and says nothing for matching ones', () => {
    const warnings: string[] = [];
    const warn = (m: string) => warnings.push(m);
    assert.throws(
      () => checkCalibrationRun(fitted, 'c.json', { passes: 10, deterministic: true }, warn),
      (e: unknown) =>
        e instanceof UsageError &&
        /^The calibration c\.json holds for the mean of 10 MC passes; .*drop `deterministic`, or drop `calibration`$/.test(e.message),
    );
    checkCalibrationRun(fitted, 'c.json', { passes: 10, deterministic: false }, warn);
    assert.deepEqual(warnings, []);
    checkCalibrationRun(fitted, 'c.json', { passes: 'auto', deterministic: false }, warn);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]!,
      /^The calibration c\.json was fitted on other passes than this run makes: adaptive T .* coverage is no longer guaranteed: run with `passes` 10, or calibrate again/,
    );
  });
});
