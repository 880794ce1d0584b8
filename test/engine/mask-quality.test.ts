import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { McModel } from '../../src/engine/mc-model.js';
import { probeModel, twoSiteProbeModel } from '../helpers/graphs.js';
import { writeModel } from '../helpers/files.js';
import { familyWiseZ, maskReport, masksLookIndependent, twoSidedTail } from '../helpers/mask-stats.js';

// 2,000 passes of 48 units (96 at two sites). Under independence each keep rate is ~normal and
// each correlation ~N(0, 1/N); the worst over all units (or pairs) is held to the bound that a sound
// generator exceeds with probability 0.1% (family-wise, see mask-stats.ts: 4.26 sigma for 48 units,
// 4.41 for 96, 4.92/sqrt(N) for 1,128 pairs). The seeds are fixed, so the test is deterministic,
// and a generator with patterns (like onnxruntime's kernel below: worst unit 44.7 sigma off,
// correlations of 1) fails by far. Over 400 seeds of the two-site test, the worst unit passed
// 3 sigma for 95 seeds and 4 sigma for 3 (theory for 96 independent units: 91 and 2.4).
const PASSES = 2000;
const RATE = 0.5;

/** Masks as 0/1 from outputs of the probe on an all-ones image (kept units read 1/(1-p)). */
function toMasks(rows: ArrayLike<number>, units: number): number[][] {
  const masks: number[][] = [];
  for (let r = 0; r * units < rows.length; r++) masks.push(Array.from({ length: units }, (_, u) => (rows[r * units + u]! > 0 ? 1 : 0)));
  return masks;
}

describe('dropout masks drawn by mc-dropout', () => {
  it('keep every unit at rate 1-p, with no periodic or correlated units (48 units, 2,000 passes)', async () => {
    const model = await McModel.load(writeModel(probeModel(RATE, 4, 4)), { device: 'cpu' });
    const [scores] = await model.predictScores([new Float32Array(48).fill(1)], { passes: PASSES, seed: 42 });
    await model.dispose();
    const masks = toMasks(scores!, 48);
    const report = maskReport(masks, 1 - RATE);
    assert.ok(masksLookIndependent(report), JSON.stringify(report));
    // kept units are scaled by 1/(1-p), dropped ones are exactly 0
    assert.ok(Array.from(scores!).every((v) => v === 0 || v === 2));
  });

  it('draw independent masks at two sites on the same tensor', async () => {
    const model = await McModel.load(writeModel(twoSiteProbeModel(RATE, 4, 4)), { device: 'cpu' });
    const [scores] = await model.predictScores([new Float32Array(48).fill(1)], { passes: PASSES, seed: 7 });
    await model.dispose();
    const masks = toMasks(scores!, 96);
    const samePosition = Array.from({ length: 48 }, (_, u) => [u, u + 48] as [number, number]);
    const report = maskReport(masks, 1 - RATE, samePosition);
    assert.ok(masksLookIndependent(report), JSON.stringify(report));
  });

  it('drop a fraction p of all units within 4 sigma at p = 0.3', async () => {
    const rate = 0.3;
    const model = await McModel.load(writeModel(probeModel(rate, 4, 4)), { device: 'cpu' });
    const [scores] = await model.predictScores([new Float32Array(48).fill(1)], { passes: PASSES, seed: 3 });
    await model.dispose();
    const dropped = Array.from(scores!).filter((v) => v === 0).length / scores!.length;
    const sigma = Math.sqrt((rate * (1 - rate)) / scores!.length);
    assert.ok(Math.abs(dropped - rate) <= 4 * sigma, `dropped ${dropped}, expected ${rate} +- ${4 * sigma}`);
  });
});

describe('the family-wise bounds of the mask checks', () => {
  it('match the normal tail: P(|Z| > 1.96) = 0.05, P(|Z| > 4) = 6.33e-5', () => {
    assert.ok(Math.abs(twoSidedTail(1.959964) - 0.05) < 1e-6);
    assert.ok(Math.abs(twoSidedTail(4) - 6.334e-5) < 1e-7);
    assert.ok(Math.abs(familyWiseZ(1, 0.05) - 1.96) < 1e-3);
    // 1,000 checks at a 0.1% family-wise false alarm: each at 1e-6, z = 4.89
    assert.ok(Math.abs(familyWiseZ(1000) - 4.892) < 1e-2);
  });
});

describe("onnxruntime's own Dropout kernel (why mc-dropout draws its own masks)", () => {
  it('fails the same mask-quality check when the node is kept with optimization disabled', async () => {
    const session = await ort.InferenceSession.create(probeModel(RATE, 4, 4), { graphOptimizationLevel: 'disabled' });
    const ones = new ort.Tensor('float32', new Float32Array(48).fill(1), [1, 3, 4, 4]);
    const rows: number[] = [];
    for (let pass = 0; pass < PASSES; pass++) {
      const out = await session.run({ input: ones });
      rows.push(...(out.output!.data as Float32Array));
    }
    await session.release();
    const report = maskReport(toMasks(rows, 48), 1 - RATE);
    assert.equal(masksLookIndependent(report), false, `onnxruntime's masks unexpectedly passed: ${JSON.stringify(report)}`);
  });
});
