/** fitTemperature at and away from the ends of its range, and the warning a fit at an end gives (#34). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fitTemperature, temperatureAtBound, temperatureBoundWarning, TEMPERATURE_RANGE } from '../../src/calibration/temperature.js';

/** One pass of two-class logits [2, 0] per image. */
const image = (label: number) => ({ logits: [2, 0], label });

describe('temperature fit at the ends of its range', () => {
  it('finds the interior minimum: 3 of 4 images of class 0 under logits [2, 0] want softmax 0.75, T = 2 / ln 3', () => {
    const fit = fitTemperature([image(0), image(0), image(0), image(1)], 2);
    // the NLL is quadratic at its minimum, so doubles place T to about the square root of their precision
    assert.ok(Math.abs(fit.temperature - 2 / Math.log(3)) < 1e-6, String(fit.temperature));
    assert.equal(temperatureAtBound(fit.temperature), undefined);
    assert.equal(temperatureBoundWarning(fit.temperature, 4, fit.nllAfter), undefined);
  });

  it('perfectly separated images stop at the lower bound 0.05, with a warning saying why and what to do', () => {
    const fit = fitTemperature([image(0), image(0)], 2);
    assert.ok(Math.abs(fit.temperature - TEMPERATURE_RANGE[0]) < 1e-9, String(fit.temperature));
    assert.equal(temperatureAtBound(fit.temperature), 'lower');
    // softmax(40, 0) misses 1 by e^-40, below what a double holds next to 1: NLL 0 at the bound
    assert.equal(fit.nllAfter, 0);
    const warning = temperatureBoundWarning(fit.temperature, 2, fit.nllAfter)!;
    assert.match(
      warning,
      /^The fitted temperature hit the lower bound 0\.05 of the range searched \[0\.05, 20\]: on these 2 calibration images a sharper softmax always lowers the NLL \(0\.000000 at the bound\)/,
    );
    assert.match(warning, /too few or perfectly separated/);
    assert.match(warning, /calibrate on more labeled images, held out from training/);
  });

  it('images all predicted wrong stop at the upper bound 20', () => {
    const fit = fitTemperature([image(1), image(1)], 2);
    assert.ok(Math.abs(fit.temperature - TEMPERATURE_RANGE[1]) < 1e-9, String(fit.temperature));
    assert.equal(temperatureAtBound(fit.temperature), 'upper');
    // -ln softmax(0.1, 0)[1] = ln(1 + e^0.1)
    assert.ok(Math.abs(fit.nllAfter - Math.log(1 + Math.exp(0.1))) < 1e-9);
    assert.match(
      temperatureBoundWarning(fit.temperature, 2, fit.nllAfter)!,
      /^The fitted temperature hit the upper bound 20 of the range searched \[0\.05, 20\]: .*predicted wrong.*check the true classes \(`truthFile`\)/,
    );
  });

  it('a temperature just inside either end is not at it', () => {
    assert.equal(temperatureAtBound(0.05 * 1.00001), undefined);
    assert.equal(temperatureAtBound(20 / 1.00001), undefined);
    assert.equal(temperatureAtBound(1), undefined);
  });
});
