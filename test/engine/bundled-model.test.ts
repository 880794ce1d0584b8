import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { McModel } from '../../src/engine/mc-model.js';
import { loadImageTensor } from '../../src/preprocess/decode.js';
import { resolvePreprocess } from '../../src/preprocess/spec.js';
import { BUNDLED_MODEL } from '../../src/paths.js';
import { ROOT } from '../helpers/cli.js';

const SAMPLE = path.join(ROOT, 'fixtures', 'samples', 'coat-25.jpg');

async function distinctPasses(model: McModel, image: Float32Array): Promise<number> {
  const [probs] = await model.predict([image], { passes: 10, seed: 3 });
  const c = model.info.classes;
  return new Set(Array.from({ length: 10 }, (_, t) => Array.from(probs!.subarray(t * c, (t + 1) * c)).join())).size;
}

describe('bundled model', () => {
  for (const optimization of ['disabled', 'basic', 'extended', 'all'] as const) {
    for (const trunkReuse of ['auto', 'off'] as const) {
      it(`passes of one image differ at optimization '${optimization}', trunk reuse ${trunkReuse}`, async () => {
        const model = await McModel.load(BUNDLED_MODEL, { device: 'cpu', optimization, trunkReuse });
        const image = await loadImageTensor(SAMPLE, resolvePreprocess(model.info));
        const distinct = await distinctPasses(model, image);
        await model.dispose();
        assert.equal(distinct, 10);
      });
    }
  }

  it('control: a naive onnxruntime session on the same file is deterministic (its optimizer deletes Dropout)', async () => {
    const model = await McModel.load(BUNDLED_MODEL, { device: 'cpu' });
    const image = await loadImageTensor(SAMPLE, resolvePreprocess(model.info));
    await model.dispose();
    const session = await ort.InferenceSession.create(readFileSync(BUNDLED_MODEL), { graphOptimizationLevel: 'all' });
    const outputs = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const out = await session.run({ input: new ort.Tensor('float32', image, [1, 3, 32, 32]) });
      outputs.add(Array.from(out.logits!.data as Float32Array).join());
    }
    await session.release();
    assert.equal(outputs.size, 1);
  });

  it('deterministic mode equals the naive (eval) session output', async () => {
    const model = await McModel.load(BUNDLED_MODEL, { device: 'cpu' });
    const image = await loadImageTensor(SAMPLE, resolvePreprocess(model.info));
    const [scores] = await model.predictScores([image], { passes: 1, seed: 0, deterministic: true });
    await model.dispose();
    const session = await ort.InferenceSession.create(readFileSync(BUNDLED_MODEL));
    const out = (await session.run({ input: new ort.Tensor('float32', image, [1, 3, 32, 32]) })).logits!.data as Float32Array;
    await session.release();
    for (let c = 0; c < 10; c++) assert.ok(Math.abs(scores![c]! - out[c]!) < 1e-4, `class ${c}: ${scores![c]} vs ${out[c]}`);
  });
});
