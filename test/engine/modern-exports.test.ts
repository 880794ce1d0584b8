/**
 * Models as PyTorch 2.13 exports them (fixtures/modern, made by make_modern.py): external weights,
 * IR 10, timm's DropPath and DropBlock and Gaussian noise as random ops, checked against PyTorch's
 * own MC numbers in reference.json.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { McModel } from '../../src/engine/mc-model.js';
import { loadImageTensor } from '../../src/preprocess/decode.js';
import { resolvePreprocess } from '../../src/preprocess/spec.js';
import { ROOT } from '../helpers/cli.js';

interface Reference {
  images: string[];
  models: Record<
    string,
    {
      file: string;
      external_data: boolean;
      ir_version: number;
      exporter: string;
      random_ops: Record<string, number>;
      passes: number;
      reference: { image: string; mean: number[]; std: number[] }[];
    }
  >;
}

const FOLDER = path.join(ROOT, 'fixtures/modern');
const REFERENCE = JSON.parse(readFileSync(path.join(FOLDER, 'reference.json'), 'utf8')) as Reference;
/** Windowed attention (make_swin.py): a Hugging Face and a timm Swin, in the same form. */
const SWIN = JSON.parse(readFileSync(path.join(FOLDER, 'reference-swin.json'), 'utf8')) as Reference;
Object.assign(REFERENCE.models, SWIN.models);
/** Stochastic depth as torch 1.13 (TorchScript) and torch 2.13 (torchvision, dynamo) spell it (make_stochastic_depth.py). */
const DEPTH = JSON.parse(readFileSync(path.join(FOLDER, 'reference-depth.json'), 'utf8')) as Reference;
Object.assign(REFERENCE.models, DEPTH.models);
const SAMPLES = readdirSync(path.join(ROOT, 'fixtures/samples'))
  .sort()
  .map((f) => path.join(ROOT, 'fixtures/samples', f));
/** Passes of ours per image for the comparison with PyTorch's 2,000. */
const PASSES = 600;
/**
 * Family-wise bound for |ours - PyTorch| of a mean probability: both are means of independent passes
 * with per-pass sd s, so their difference has sd s * sqrt(1/600 + 1/2000). 5 sd: a sound engine
 * exceeds it with probability 5.7e-7 per check, under 1e-5 for the 15 checks (3 images x 5 classes)
 * of a model. Plus 2e-6 for float32 arithmetic (different kernels), 3e-3 for float16 weights.
 */
const Z = 5;

async function load(name: string, options: Parameters<typeof McModel.load>[1] = {}) {
  return McModel.load(path.join(FOLDER, REFERENCE.models[name]!.file), { device: 'cpu', threads: 1, ...options });
}

async function tensors(model: McModel, files: string[]) {
  const spec = resolvePreprocess(model.info);
  return Promise.all(files.map((f) => loadImageTensor(f, spec)));
}

describe('models as PyTorch 2.13 exports them', () => {
  it('the fixtures are what the issue asks for: dynamo (IR 10, external data) and TorchScript exports, random ops', () => {
    const m = REFERENCE.models;
    assert.equal(m.effnet_droppath!.external_data, true);
    assert.equal(m.effnet_droppath!.ir_version, 10);
    assert.equal(m.mnv3_dropout_single!.external_data, false);
    assert.equal(m.mnv3_dropout_single!.ir_version, 10);
    assert.equal(m.effnet_droppath_torchscript!.exporter, 'torchscript');
    assert.ok(m.gaussian_noise!.random_ops.RandomNormalLike! > 0);
    assert.ok(m.vit_droppath!.random_ops.Dropout! > 0 && m.vit_droppath!.random_ops.RandomUniformLike! > 0);
    // torch 1.13 cannot export bernoulli_: its stochastic depth is a Dropout on ones, or RandomUniformLike < full(keep)
    assert.match(m.depth_torch113_dropout!.exporter, /^torch 1\.13.* torchscript$/);
    assert.deepEqual(m.depth_torch113_dropout!.random_ops, { Dropout: 3 });
    assert.deepEqual(m.depth_torch113_bernoulli!.random_ops, { RandomUniformLike: 3 });
    assert.match(m.depth_torchvision_dynamo!.exporter, /^torch 2\.13.* dynamo$/);
  });

  it("Swin's attention dropout folds the batch with the windows: k = 4 windows per image in stage 1, 1 in stage 2", async () => {
    // 32x32 input, 4x4 patches: an 8x8 grid, windows of 4x4 tokens: 4 windows in stage 1, then 4x4 (1 window) after merging
    const folds = { swin_timm: [4, 4, 1, 1, 1, 1, 1, 1, 1, 1], swin_hf: [4, 4, 1, 1, 1, 1, 1] };
    for (const [name, expected] of Object.entries(folds)) {
      const model = await load(name);
      try {
        assert.deepEqual(
          model.info.drawnSites.map((s) => s.fold),
          expected,
          name,
        );
        // a folded site's per-image mask covers its 4 windows: [windows, heads, tokens, tokens]
        assert.deepEqual(model.info.drawnSites[0]!.rowShape, [4, 1, 16, 16], name);
      } finally {
        await model.dispose();
      }
    }
    assert.ok(SWIN.models.swin_hf!.random_ops.Dropout! === 4 && SWIN.models.swin_timm!.random_ops.Dropout! === 4);
  });

  for (const [name, entry] of Object.entries(REFERENCE.models)) {
    describe(name, () => {
      it('MC means agree with PyTorch within MC error; passes differ', async () => {
        const model = await load(name);
        try {
          const images = await tensors(
            model,
            entry.reference.map((r) => path.join(ROOT, r.image)),
          );
          const probs = await model.predict(images, { passes: PASSES, seed: 1 });
          const classes = model.info.classes;
          const slack = name.endsWith('fp16') ? 3e-3 : 2e-6;
          entry.reference.forEach((ref, i) => {
            let spread = 0;
            for (let c = 0; c < classes; c++) {
              let sum = 0;
              let sumSq = 0;
              for (let t = 0; t < PASSES; t++) {
                const p = probs[i]![t * classes + c]!;
                sum += p;
                sumSq += p * p;
              }
              const mean = sum / PASSES;
              spread = Math.max(spread, Math.sqrt(Math.max(0, sumSq / PASSES - mean * mean)));
              const bound = Z * ref.std[c]! * Math.sqrt(1 / PASSES + 1 / entry.passes) + slack;
              assert.ok(Math.abs(mean - ref.mean[c]!) <= bound, `${ref.image} class ${c}: ours ${mean}, PyTorch ${ref.mean[c]}, bound ${bound}`);
            }
            assert.ok(spread > 0, `${ref.image}: every pass gave the same probabilities`);
          });
        } finally {
          await model.dispose();
        }
      });

      it('--seed gives identical bytes whatever the batch size (1, 7, 64)', async () => {
        const model = await load(name);
        try {
          const images = await tensors(model, SAMPLES.slice(0, 20));
          const run = async (batch: number) => {
            const out: Float64Array[] = [];
            for (let s = 0; s < images.length; s += batch) out.push(...(await model.predict(images.slice(s, s + batch), { passes: 3, seed: 7 })));
            return out;
          };
          const one = await run(1);
          assert.deepEqual(await run(7), one);
          assert.deepEqual(await run(64), one);
        } finally {
          await model.dispose();
        }
      });
    });
  }

  it('trunk reuse applies where the only random op is in the head, and equals the whole graph per pass', async () => {
    for (const name of ['mnv3_dropout', 'effnet_droppath', 'vit_droppath', 'swin_timm', 'swin_hf']) {
      const reused = await load(name);
      const full = await load(name, { trunkReuse: 'off' });
      try {
        assert.equal(reused.plan.trunkReuse, true, `${name}: ${reused.plan.reason}`);
        const images = await tensors(reused, SAMPLES.slice(0, 4));
        const a = await reused.predict(images, { passes: 5, seed: 3 });
        const b = await full.predict(images, { passes: 5, seed: 3 });
        // the same masks and numbers; float32 kernels at other batch shapes differ in the last bits
        a.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - b[i]![j]!) < 1e-5, `${name} image ${i}: ${v} vs ${b[i]![j]}`)));
      } finally {
        await reused.dispose();
        await full.dispose();
      }
    }
  });

  it("DropBlock's ReduceSum over every row: each (image, pass) runs alone, so it matches PyTorch's single-image passes", async () => {
    const model = await load('resnet_dropblock');
    try {
      assert.equal(model.plan.rowsAlone, true);
      assert.match(model.plan.reason, /rows would see each other: ReduceSum/);
    } finally {
      await model.dispose();
    }
    const effnet = await load('effnet_droppath');
    assert.equal(effnet.plan.rowsAlone, false, 'DropPath rows are independent');
    await effnet.dispose();
  });

  it('--deterministic feeds random ops their median: Gaussian noise vanishes, DropPath keeps every branch', async () => {
    const noise = await load('gaussian_noise');
    try {
      const images = await tensors(noise, SAMPLES.slice(0, 2));
      const a = await noise.predict(images, { passes: 1, seed: 1, deterministic: true });
      const b = await noise.predict(images, { passes: 1, seed: 2, deterministic: true });
      assert.deepEqual(a, b);
      // noise at its mean 0 is the eval-mode network: the MC mean over many passes is close to it
      const mc = await noise.predict(images, { passes: 400, seed: 1 });
      const classes = noise.info.classes;
      for (let c = 0; c < classes; c++) {
        let mean = 0;
        for (let t = 0; t < 400; t++) mean += mc[0]![t * classes + c]! / 400;
        assert.ok(Math.abs(mean - a[0]![c]!) < 0.05, `class ${c}: MC ${mean} vs deterministic ${a[0]![c]}`);
      }
    } finally {
      await noise.dispose();
    }
  });
});
