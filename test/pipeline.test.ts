import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PixelBudget, predictFiles, type PassModel } from '../src/pipeline.js';
import { loadImageTensor } from '../src/preprocess/decode.js';
import { resolvePreprocess } from '../src/preprocess/spec.js';
import { ROOT } from './helpers/cli.js';
import { tempDir } from './helpers/files.js';

describe('PixelBudget', () => {
  it('holds decodes to the budget in order, and lets an image above the whole budget run alone', async () => {
    const budget = new PixelBudget(100);
    const events: string[] = [];
    const take = async (name: string, pixels: number, ms: number) => {
      const release = await budget.acquire(pixels);
      events.push(`start ${name}`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      events.push(`end ${name}`);
      release();
    };
    // 60 + 60 > 100: b waits for a; c (30) queues behind b, first come first served; d (250) runs alone
    await Promise.all([take('a', 60, 20), take('b', 60, 20), take('c', 30, 5), take('d', 250, 5), take('e', 10, 5)]);
    assert.deepEqual(events, ['start a', 'end a', 'start b', 'start c', 'end c', 'end b', 'start d', 'end d', 'start e', 'end e']);
  });
});

describe('predictFiles through the PassModel seam (a fake model, no onnxruntime)', () => {
  // a fake of 3 classes: image i's passes come from its tensor's first value, pass t from t, so
  // every expected number is computed here by hand, not by the code under test
  const classes = 3;
  const passOf = (first: number, t: number): number[] => {
    const a = 0.2 + 0.1 * ((Math.round(Math.abs(first) * 1000) + t) % 5);
    return [a, (1 - a) / 2, (1 - a) / 2];
  };
  const calls: number[] = [];
  const fake: PassModel = {
    info: { classes, outputIsProbabilities: true },
    predict: (images, options) => {
      calls.push(images.length);
      const passes = options.deterministic ? 1 : options.passes;
      return Promise.resolve(images.map((image) => Float64Array.from(Array.from({ length: passes }, (_, t) => passOf(image[0]!, t)).flat())));
    },
    predictScores: () => Promise.reject(new Error('not used without logit scores')),
    probabilities: (scores) => scores,
    adaptivePool: () => {
      throw new Error('not used at fixed T');
    },
  };

  it('yields one result per file in input order, batches of batchSize, an error result for a file that is not an image', async () => {
    const folder = tempDir();
    writeFileSync(path.join(folder, 'text.png'), 'not an image');
    const files = [
      path.join(ROOT, 'fixtures/samples/bag-18.png'),
      path.join(folder, 'text.png'),
      path.join(ROOT, 'fixtures/samples/coat-10.png'),
      path.join(ROOT, 'fixtures/samples/ankle-boot-0.png'),
    ];
    const spec = resolvePreprocess({ height: 28, width: 28, layout: 'NCHW', metadata: {} });
    calls.length = 0;
    const results = [];
    for await (const result of predictFiles(fake, files, { passes: 4, seed: 1, batchSize: 2, decodeConcurrency: 2, preprocess: spec, keepPasses: true }))
      results.push(result);
    assert.deepEqual(
      results.map((r) => [path.basename(r.file), r.status]),
      [
        ['bag-18.png', 'ok'],
        ['text.png', 'error'],
        ['coat-10.png', 'ok'],
        ['ankle-boot-0.png', 'ok'],
      ],
    );
    // two batches of two files: the first holds one image (the other failed to decode)
    assert.deepEqual(calls, [1, 2]);
    for (const result of results.filter((r) => r.status === 'ok')) {
      const tensor = await loadImageTensor(result.file, spec);
      const expected = Array.from({ length: 4 }, (_, t) => passOf(tensor[0]!, t)).flat();
      assert.deepEqual(Array.from(result.passProbs!), expected, result.file);
      const mean = [0, 1, 2].map((c) => (expected[c]! + expected[3 + c]! + expected[6 + c]! + expected[9 + c]!) / 4);
      assert.ok(Math.abs(result.summary.confidence - Math.max(...mean)) < 1e-12, result.file);
    }
  });
});
