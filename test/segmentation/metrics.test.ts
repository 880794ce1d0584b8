import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError, UsageError } from '../../src/errors.js';
import { calibrationOf, metricsOf, type Outcome } from '../../src/evaluate/metrics.js';
import type { PixelMaps } from '../../src/segmentation/maps.js';
import { AUROC_LEVELS, calibrationBin, PIXEL_SCORES, SegmentationEvaluation, type PixelScore } from '../../src/segmentation/metrics.js';
import { mulberry32 } from '../helpers/random.js';

const close = (actual: number | null, expected: number, what: string) =>
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-12, `${what}: ${actual} vs ${expected}`);

/** One pixel as the test writes it: its mean probabilities and what the maps say of it. */
interface Pixel {
  probs: number[];
  label: number;
  confidence: number;
  entropy: number;
  mi: number;
}

/** PixelMaps of width x height pixels listed row-major. */
function mapsOf(width: number, height: number, classes: number, pixels: Pixel[]): PixelMaps {
  const n = width * height;
  const meanProbs = new Float32Array(classes * n);
  pixels.forEach((px, p) => px.probs.forEach((v, c) => (meanProbs[c * n + p] = v)));
  return {
    width,
    height,
    classes,
    passes: 4,
    meanProbs,
    label: Uint16Array.from(pixels, (px) => px.label),
    confidence: Float32Array.from(pixels, (px) => px.confidence),
    entropy: Float32Array.from(pixels, (px) => px.entropy),
    mutualInformation: Float32Array.from(pixels, (px) => px.mi),
  };
}

const h = (...p: number[]) => -p.reduce((s, v) => s + (v > 0 ? v * Math.log(v) : 0), 0);
/** Image A, 2x2, 4 classes (class 3 in neither truth nor labels). Truth 0 1 / 2 1. */
const A = mapsOf(2, 2, 4, [
  { probs: [0.5, 0.25, 0.25, 0], label: 0, confidence: 0.5, entropy: 1.5 * Math.LN2, mi: 0.1 }, // truth 0: right
  { probs: [0.75, 0.25, 0, 0], label: 0, confidence: 0.75, entropy: h(0.75, 0.25), mi: 0.2 }, // truth 1: wrong
  { probs: [0, 0, 1, 0], label: 2, confidence: 1, entropy: 0, mi: 0 }, // truth 2: right
  { probs: [0.125, 0.875, 0, 0], label: 1, confidence: 0.875, entropy: h(0.125, 0.875), mi: 0.05 }, // truth 1: right
]);
const truthA = Uint16Array.from([0, 1, 2, 1]);
/** Image B, 3x1. Truth 0 2 0. */
const B = mapsOf(3, 1, 4, [
  { probs: [0.25, 0.75, 0, 0], label: 1, confidence: 0.75, entropy: h(0.25, 0.75), mi: 0.1 }, // truth 0: wrong
  { probs: [0.5, 0.5, 0, 0], label: 0, confidence: 0.5, entropy: Math.LN2, mi: 0.3 }, // truth 2: wrong, p_true 0
  { probs: [1, 0, 0, 0], label: 0, confidence: 1, entropy: 0, mi: 0 }, // truth 0: right
]);
const truthB = Uint16Array.from([0, 2, 0]);

describe('SegmentationEvaluation, two images worked by hand', () => {
  const evaluation = new SegmentationEvaluation(4);
  evaluation.add(A, truthA);
  evaluation.add(B, truthB);
  const m = evaluation.result();

  it('counts, confusion, pixel accuracy', () => {
    assert.deepEqual([m.images, m.pixels, m.ignored], [2, 7, 0]);
    // [truth][label]: truth 0 -> A0 0, B0 1, B2 0; truth 1 -> A1 0, A3 1; truth 2 -> A2 2, B1 0
    assert.deepEqual(m.confusion, [
      [2, 1, 0, 0],
      [1, 1, 0, 0],
      [1, 0, 1, 0],
      [0, 0, 0, 0],
    ]);
    close(m.pixelAccuracy, 4 / 7, 'pixel accuracy');
  });

  it('IoU and Dice per class, their means over the classes with a union', () => {
    // class 0: TP 2, truth 3, labelled 4, union 5; class 1: TP 1, truth 2, labelled 2, union 3; class 2: TP 1, truth 2, labelled 1, union 2; class 3: union 0
    assert.deepEqual(m.iou, [2 / 5, 1 / 3, 1 / 2, null]);
    assert.deepEqual(m.dice, [4 / 7, 2 / 4, 2 / 3, null]);
    close(m.meanIou, (2 / 5 + 1 / 3 + 1 / 2) / 3, 'mean IoU, class 3 left out');
    close(m.meanDice, (4 / 7 + 1 / 2 + 2 / 3) / 3, 'mean Dice, class 3 left out');
  });

  it('NLL, p_true floored at 1e-12', () => {
    // -ln of 0.5, 0.25, 1, 0.875, 0.25, 1e-12 (B1's p_true is 0), 1
    close(m.nll, (Math.LN2 + 2 * Math.LN2 + 0 + Math.log(8 / 7) + 2 * Math.LN2 + 12 * Math.LN10 + 0) / 7, 'nll');
  });

  it('ECE over 15 bins', () => {
    // 0.5 in bin 7 (7/15, 8/15]: A0 right, B1 wrong, gap 0; 0.75 in bin 11: A1, B0 both wrong, gap 0.75;
    // 0.875 in bin 13: A3 right, gap 0.125; 1 in bin 14: A2, B2 right, gap 0
    close(m.ece, (2 / 7) * 0.75 + (1 / 7) * 0.125, 'ece');
  });

  it('AUROC of each uncertainty, wrong pixels positive, ties one half', () => {
    // 1 - confidence: wrong 0.25 0.25 0.5, right 0.5 0 0.125 0: 3 + 3 + (3 + 1/2) of 12 pairs
    close(m.auroc.one_minus_confidence, 9.5 / 12, '1 - confidence');
    // entropy: wrong 0.562 0.562 0.693, right 1.040 0 0.377 0: 3 + 3 + 3 of 12
    close(m.auroc.entropy, 9 / 12, 'entropy');
    // MI: wrong 0.2 0.1 0.3, right 0.1 0 0.05 0: 4 + (1/2 + 3) + 4 of 12
    close(m.auroc.mutual_information, 11.5 / 12, 'mutual information');
  });

  it('the same pixels as one image or two give the same metrics', () => {
    const together = new SegmentationEvaluation(4);
    together.add(mapsOf(7, 1, 4, [...pixelsOf(A), ...pixelsOf(B)]), Uint16Array.from([...truthA, ...truthB]));
    assert.deepEqual({ ...together.result(), images: 2 }, m);
  });
});

describe('SegmentationEvaluation, ignoreIndex', () => {
  it('truth 255 is left out, counted as ignored', () => {
    const evaluation = new SegmentationEvaluation(4, { ignoreIndex: 255 });
    evaluation.add(A, Uint16Array.from([0, 255, 2, 1]));
    const m = evaluation.result();
    assert.deepEqual([m.pixels, m.ignored], [3, 1]);
    assert.deepEqual(m.confusion[1], [0, 1, 0, 0]);
    assert.equal(m.pixelAccuracy, 1);
    assert.equal(m.auroc.entropy, null, 'no wrong pixel left');
  });

  it('an ignore index among the classes leaves out that class of truth', () => {
    const evaluation = new SegmentationEvaluation(4, { ignoreIndex: 0 });
    evaluation.add(A, truthA);
    assert.deepEqual([evaluation.result().pixels, evaluation.result().ignored], [3, 1]);
  });

  it('an image all ignored changes only the counts of images and ignored pixels', () => {
    const evaluation = new SegmentationEvaluation(4, { ignoreIndex: 255 });
    evaluation.add(A, truthA);
    const before = evaluation.result();
    evaluation.add(B, Uint16Array.from([255, 255, 255]));
    assert.deepEqual(evaluation.result(), { ...before, images: 2, ignored: 3 });
  });

  it('nothing but ignored pixels: result() is a UsageError', () => {
    const evaluation = new SegmentationEvaluation(4, { ignoreIndex: 255 });
    evaluation.add(B, Uint16Array.from([255, 255, 255]));
    assert.throws(
      () => evaluation.result(),
      (e: unknown) => e instanceof UsageError && /at least one pixel that is not `ignoreIndex`/.test(e.message),
    );
  });
});

describe('SegmentationEvaluation, bad calls', () => {
  it('a truth value past the classes without ignoreIndex: an InputError naming the file, the value and `ignoreIndex`; nothing counted', () => {
    const evaluation = new SegmentationEvaluation(4);
    evaluation.add(A, truthA);
    const before = evaluation.result();
    assert.throws(
      () => evaluation.add(B, Uint16Array.from([0, 255, 0]), 'masks/b.png'),
      (e: unknown) =>
        e instanceof InputError &&
        e.file === 'masks/b.png' &&
        e.message === 'masks/b.png: truth value 255 at pixel (x 1, y 0) is not a class (0 to 3); if it marks pixels to leave out, pass it as `ignoreIndex`',
    );
    assert.deepEqual(evaluation.result(), before);
  });

  it('a truth of another size: an InputError naming the file', () => {
    assert.throws(() => new SegmentationEvaluation(4).add(A, new Uint16Array(5), 'masks/a.png'), {
      name: 'InputError',
      message: 'masks/a.png: truth has 5 pixels, the maps 2 x 2 = 4',
    });
  });

  it('maps of other classes: a UsageError naming `maps.classes`', () => {
    assert.throws(() => new SegmentationEvaluation(5).add(A, truthA), { name: 'UsageError', message: /`maps.classes` but received 4/ });
  });

  it('an ignoreIndex that is not a 16-bit integer, bins of 0, no classes: UsageErrors naming each', () => {
    assert.throws(() => new SegmentationEvaluation(4, { ignoreIndex: -1 }), { name: 'UsageError', message: /`ignoreIndex` but received -1/ });
    assert.throws(() => new SegmentationEvaluation(4, { bins: 0 }), { name: 'UsageError', message: /`bins` but received 0/ });
    assert.throws(() => new SegmentationEvaluation(0), { name: 'UsageError', message: /`classes` but received 0/ });
  });
});

describe('SegmentationEvaluation against the house and a pair count, random images', () => {
  const classes = 5;
  const logClasses = Math.log(classes);
  const random = mulberry32(11);
  /** A level of a coarse grid, so many pixels tie. */
  const coarse = () => 97 * Math.floor(random() * 600);
  const sizes = [
    [20, 15],
    [7, 9],
    [1, 1],
  ] as const;

  /**
   * Scores on the 65536-level grid: 1 - confidence = k / 65536, entropy and MI at the middle of
   * level k of [0, ln C]; with `edges`, every 3rd confidence is an ECE bin edge b / 15 as float32 rounds it.
   */
  function randomImage(width: number, height: number, edges: boolean) {
    const n = width * height;
    const maps: PixelMaps = {
      width,
      height,
      classes,
      passes: 4,
      meanProbs: Float32Array.from({ length: classes * n }, () => (random() < 0.1 ? 0 : random())),
      label: Uint16Array.from({ length: n }, () => Math.floor(random() * classes)),
      confidence: Float32Array.from({ length: n }, (_, p) => (edges && p % 3 === 0 ? Math.floor(random() * 16) / 15 : 1 - coarse() / AUROC_LEVELS)),
      entropy: Float32Array.from({ length: n }, () => ((coarse() + 0.5) / AUROC_LEVELS) * logClasses),
      mutualInformation: Float32Array.from({ length: n }, () => ((coarse() + 0.5) / AUROC_LEVELS) * logClasses),
    };
    const truth = Uint16Array.from(maps.label, (label) => (random() < 0.6 ? label : Math.floor(random() * classes)));
    return { maps, truth };
  }

  /** The metrics of random images and the same pixels as the house's outcomes. */
  function evaluate(edges: boolean) {
    const images = sizes.map(([width, height]) => randomImage(width, height, edges));
    const evaluation = new SegmentationEvaluation(classes);
    for (const { maps, truth } of images) evaluation.add(maps, truth);
    return { m: evaluation.result(), outcomes: images.flatMap(({ maps, truth }) => outcomesOf(maps, truth)) };
  }

  it('accuracy, NLL (its floor included) and ECE (bin edges included) equal metricsOf on the pixels as images', () => {
    const { m, outcomes } = evaluate(true);
    const house = metricsOf(outcomes);
    close(m.pixelAccuracy, house.accuracy, 'accuracy');
    close(m.nll, house.nll, 'nll');
    close(m.ece, house.calibration.ece, 'ece');
    assert.ok(outcomes.some((o) => o.trueProbability === 0));
  });

  it('each AUROC equals a direct count of pairs, ties one half, and the house aurocOf', () => {
    const { m, outcomes } = evaluate(false);
    const house = metricsOf(outcomes).auroc;
    for (const score of PIXEL_SCORES) {
      const value = (o: Outcome) => pixelScore(o, score);
      const wrong = outcomes.filter((o) => o.predicted !== o.label).map(value);
      const right = outcomes.filter((o) => o.predicted === o.label).map(value);
      let pairs = 0;
      for (const w of wrong) for (const r of right) pairs += w > r ? 1 : w === r ? 0.5 : 0;
      // both sums are integers and halves, exact in float64: equal to the bit
      assert.equal(m.auroc[score], pairs / (wrong.length * right.length), score);
      close(m.auroc[score], house[score]!, `${score} vs aurocOf`);
    }
  });
});

describe('SegmentationEvaluation, the AUROC levels', () => {
  it('adjacent levels are told apart, two values in one level tie', () => {
    const level = (k: number) => (k / AUROC_LEVELS) * Math.LN2; // level k of [0, ln 2]
    const maps = mapsOf(2, 1, 2, [
      { probs: [0.9, 0.1], label: 0, confidence: 1 - 101 / AUROC_LEVELS, entropy: level(500.9), mi: level(7.5) }, // truth 1: wrong
      { probs: [0.9, 0.1], label: 0, confidence: 1 - 100 / AUROC_LEVELS, entropy: level(500.1), mi: level(8.5) }, // truth 0: right
    ]);
    const evaluation = new SegmentationEvaluation(2);
    evaluation.add(maps, Uint16Array.from([1, 0]));
    assert.deepEqual(evaluation.result().auroc, { one_minus_confidence: 1, entropy: 0.5, mutual_information: 0 });
  });
});

describe('calibrationBin', () => {
  it("puts every double within 4 ulps of an edge b / B (B up to 30) in the house's bin", () => {
    const near = (x: number, ulps: number) => {
      const bits = new BigInt64Array(Float64Array.of(x).buffer);
      bits[0] = bits[0]! + BigInt(ulps);
      return new Float64Array(bits.buffer)[0]!;
    };
    for (let bins = 1; bins <= 30; bins++) {
      for (let b = 0; b <= bins; b++) {
        for (let ulps = -4; ulps <= 4; ulps++) {
          const confidence = near(b / bins, ulps);
          if (!(confidence >= 0 && confidence <= 1)) continue;
          const outcome = { label: 0, predicted: 0, confidence, trueProbability: 1, brier: 0, entropy: 0, mutualInformation: 0, variationRatio: 0, margin: 0 };
          const house = calibrationOf([outcome], bins).bins.findIndex((bin) => bin.count === 1);
          assert.equal(calibrationBin(confidence, bins), house, `${confidence} of ${bins} bins`);
        }
      }
    }
  });
});

/** The pixels of maps, as mapsOf takes them. */
function pixelsOf(maps: PixelMaps): Pixel[] {
  const n = maps.width * maps.height;
  return Array.from({ length: n }, (_, p) => ({
    probs: Array.from({ length: maps.classes }, (_, c) => maps.meanProbs[c * n + p]!),
    label: maps.label[p]!,
    confidence: maps.confidence[p]!,
    entropy: maps.entropy[p]!,
    mi: maps.mutualInformation[p]!,
  }));
}

/** Each pixel as the house's Outcome of one image. */
function outcomesOf(maps: PixelMaps, truth: Uint16Array): Outcome[] {
  const n = maps.width * maps.height;
  return Array.from(truth, (t, p) => ({
    label: t,
    predicted: maps.label[p]!,
    confidence: maps.confidence[p]!,
    trueProbability: maps.meanProbs[t * n + p]!,
    brier: 0,
    entropy: maps.entropy[p]!,
    mutualInformation: maps.mutualInformation[p]!,
    variationRatio: 0,
    margin: 0,
  }));
}

/** A pixel's score, higher = less sure. */
function pixelScore(o: Outcome, score: PixelScore): number {
  return score === 'one_minus_confidence' ? 1 - o.confidence : score === 'entropy' ? o.entropy : o.mutualInformation;
}
