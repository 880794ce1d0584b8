import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { McModel } from '../../src/engine/mc-model.js';
import { ModelError } from '../../src/errors.js';
import { DataLocation, decodeModel, encodeModel } from '../../src/model/onnx.js';
import { buildModel, dropoutNode, floatTensor, linearModel, scalarBool, scalarFloat, testValues } from '../helpers/graphs.js';
import { writeModel } from '../helpers/files.js';

const H = 2;
const W = 2;
const UNITS = 3 * H * W;
const CLASSES = 4;
const weights = testValues(UNITS * CLASSES, 11);
const x = Float32Array.from(testValues(UNITS, 5));

describe('McModel on x -> Dropout(p) -> MatMul W (expectation known in closed form)', () => {
  it('mean over 20,000 passes is W x within 4 standard errors; variance matches p/(1-p) sum W^2 x^2', async () => {
    const rate = 0.3;
    const model = await McModel.load(writeModel(linearModel(rate, H, W, weights, CLASSES)), { device: 'cpu' });
    const passes = 20000;
    const [scores] = await model.predictScores([x], { passes, seed: 2024 });
    await model.dispose();
    for (let j = 0; j < CLASSES; j++) {
      let expected = 0;
      let variance = 0;
      for (let i = 0; i < UNITS; i++) {
        const wx = weights[i * CLASSES + j]! * x[i]!;
        expected += wx;
        variance += (wx * wx * rate) / (1 - rate);
      }
      let mean = 0;
      for (let t = 0; t < passes; t++) mean += scores![t * CLASSES + j]!;
      mean /= passes;
      let sampleVariance = 0;
      let fourth = 0;
      for (let t = 0; t < passes; t++) {
        const d = scores![t * CLASSES + j]! - mean;
        sampleVariance += d * d;
        fourth += d ** 4;
      }
      sampleVariance /= passes - 1;
      fourth /= passes;
      const standardError = Math.sqrt(variance / passes);
      assert.ok(Math.abs(mean - expected) <= 4 * standardError, `output ${j}: mean ${mean}, expected ${expected} +- ${4 * standardError}`);
      // standard error of a sample variance: sqrt((mu4 - sigma^4) / N)
      const varianceError = Math.sqrt((fourth - sampleVariance ** 2) / passes);
      assert.ok(
        Math.abs(sampleVariance - variance) <= 4 * varianceError,
        `output ${j}: variance ${sampleVariance}, expected ${variance} +- ${4 * varianceError}`,
      );
    }
  });

  it('deterministic mode gives exactly W x (dropout off) in one pass', async () => {
    const model = await McModel.load(writeModel(linearModel(0.5, H, W, weights, CLASSES)), { device: 'cpu' });
    const [scores] = await model.predictScores([x], { passes: 10, seed: 1, deterministic: true });
    await model.dispose();
    assert.equal(scores!.length, CLASSES);
    for (let j = 0; j < CLASSES; j++) {
      let expected = 0;
      for (let i = 0; i < UNITS; i++) expected += Math.fround(weights[i * CLASSES + j]!) * x[i]!;
      assert.ok(Math.abs(scores![j]! - expected) < 1e-5, `output ${j}: ${scores![j]} vs ${expected}`);
    }
  });
});

describe('seeds and batching', () => {
  const images = Array.from({ length: 64 }, (_, i) => Float32Array.from(testValues(UNITS, 100 + i)));

  it('same seed gives identical bytes; another seed gives other numbers', async () => {
    const model = await McModel.load(writeModel(linearModel(0.5, H, W, weights, CLASSES)), { device: 'cpu' });
    const a = await model.predict(images.slice(0, 5), { passes: 10, seed: 99 });
    const b = await model.predict(images.slice(0, 5), { passes: 10, seed: 99 });
    const c = await model.predict(images.slice(0, 5), { passes: 10, seed: 100 });
    await model.dispose();
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it('batch sizes 1, 7 and 64 give identical per-image results for one seed', async () => {
    const model = await McModel.load(writeModel(linearModel(0.5, H, W, weights, CLASSES)), { device: 'cpu' });
    const all = await model.predict(images, { passes: 8, seed: 5 });
    const bySeven: Float64Array[] = [];
    for (let s = 0; s < images.length; s += 7) bySeven.push(...(await model.predict(images.slice(s, s + 7), { passes: 8, seed: 5 })));
    const single: Float64Array[] = [];
    for (const image of images) single.push(...(await model.predict([image], { passes: 8, seed: 5 })));
    // the same images in reverse order: each image keeps its own masks
    const reversed = (await model.predict([...images].reverse(), { passes: 8, seed: 5 })).reverse();
    await model.dispose();
    assert.deepEqual(bySeven, all);
    assert.deepEqual(single, all);
    assert.deepEqual(reversed, all);
  });

  it('passes of one image differ', async () => {
    const model = await McModel.load(writeModel(linearModel(0.5, H, W, weights, CLASSES)), { device: 'cpu' });
    const [probs] = await model.predict([images[0]!], { passes: 10, seed: 1 });
    await model.dispose();
    const rows = new Set(Array.from({ length: 10 }, (_, t) => Array.from(probs!.subarray(t * CLASSES, (t + 1) * CLASSES)).join()));
    assert.ok(rows.size >= 9, `only ${rows.size} distinct passes of 10`);
  });

  it('replicated and sequential passes with the same seed give identical numbers', async () => {
    // the masks depend on (seed, image, pass, site) only, so the two strategies compute the same rows
    const model = await McModel.load(writeModel(linearModel(0.3, H, W, weights, CLASSES)), { device: 'cpu', maxRowsPerRun: 256 });
    const [replicated] = await model.predictScores([x], { passes: 300, seed: 8, strategy: 'replicate' });
    const [sequential] = await model.predictScores([x], { passes: 300, seed: 8, strategy: 'sequential' });
    const [other] = await model.predictScores([x], { passes: 300, seed: 9, strategy: 'sequential' });
    await model.dispose();
    assert.deepEqual(sequential, replicated);
    assert.notDeepEqual(other, replicated);
  });
});

describe('static batch dimension', () => {
  for (const fixed of [1, 4]) {
    it(`batch fixed to ${fixed}: rows run in padded chunks and match the dynamic model`, async () => {
      const decode = async (bytes: Uint8Array) => (await import('../../src/model/onnx.js')).decodeModel(bytes);
      const { encodeModel } = await import('../../src/model/onnx.js');
      const model = await decode(linearModel(0.5, H, W, weights, CLASSES));
      model.graph!.input![0]!.type!.tensorType!.shape!.dim![0] = { dimValue: fixed };
      model.graph!.output![0]!.type!.tensorType!.shape!.dim![0] = { dimValue: fixed };
      const staticModel = await McModel.load(writeModel(encodeModel(model)), { device: 'cpu' });
      const dynamicModel = await McModel.load(writeModel(linearModel(0.5, H, W, weights, CLASSES)), { device: 'cpu' });
      const images = [x, Float32Array.from(testValues(UNITS, 77)), Float32Array.from(testValues(UNITS, 78))];
      const a = await staticModel.predictScores(images, { passes: 3, seed: 4 });
      const b = await dynamicModel.predictScores(images, { passes: 3, seed: 4 });
      await staticModel.dispose();
      await dynamicModel.dispose();
      for (let i = 0; i < images.length; i++) for (let j = 0; j < a[i]!.length; j++) assert.ok(Math.abs(a[i]![j]! - b[i]![j]!) < 1e-6);
    });
  }
});

describe('models without live dropout', () => {
  const inert = (training: boolean | undefined) =>
    buildModel({
      inputDims: ['N', 3, 1, 1],
      outputDims: ['N', 3],
      nodes: [
        { opType: 'Flatten', input: ['input'], output: ['flat'] },
        dropoutNode('flat', 'output', 'ratio', training === undefined ? undefined : 'training', 'head_dropout'),
      ],
      initializers: [scalarFloat('ratio', 0.5), ...(training === undefined ? [] : [scalarBool('training', training)])],
    });

  it("inert Dropout: error names the node and dropout: 'force'", async () => {
    await assert.rejects(McModel.load(writeModel(inert(false)), { device: 'cpu' }), (error: unknown) => {
      assert.ok(error instanceof ModelError);
      assert.equal(error.code, 'E_NO_LIVE_DROPOUT');
      assert.match(error.message, /head_dropout \(training_mode is constant false\)/);
      assert.match(error.message, /`dropout: 'force'`/);
      return true;
    });
  });

  it('--dropout force makes an inert Dropout live', async () => {
    const model = await McModel.load(writeModel(inert(undefined)), { device: 'cpu', dropout: 'force' });
    const [scores] = await model.predictScores([Float32Array.from([1, 1, 1])], { passes: 200, seed: 1 });
    await model.dispose();
    assert.ok(Array.from(scores!).some((v) => v === 0) && Array.from(scores!).some((v) => v === 2));
  });

  it('no dropout at all: error says so and how to add it', async () => {
    const none = buildModel({ inputDims: ['N', 3, 1, 1], outputDims: ['N', 3], nodes: [{ opType: 'Flatten', input: ['input'], output: ['output'] }] });
    await assert.rejects(
      McModel.load(writeModel(none), { device: 'cpu' }),
      /has no dropout, so every pass would be identical\. .*add dropout: before the classifier with mc-dropout convert .* --inject-rate 0\.2 -o model-mc\.onnx, or at tensors of your choice with `injectAt` TENSOR:0\.2 \(mc-dropout inspect lists candidates\)/,
    );
  });

  it('--dropout-rate overrides the rate of every site', async () => {
    const model = await McModel.load(writeModel(inert(true)), { device: 'cpu', dropoutRate: 0.1 });
    assert.deepEqual(
      model.info.drawnSites.map((s) => s.rate),
      [0.1],
    );
    const [scores] = await model.predictScores([Float32Array.from([1, 1, 1])], { passes: 4000, seed: 2 });
    await model.dispose();
    const dropped = Array.from(scores!).filter((v) => v === 0).length / scores!.length;
    const sigma = Math.sqrt((0.1 * 0.9) / scores!.length);
    assert.ok(Math.abs(dropped - 0.1) <= 4 * sigma, `dropped ${dropped}`);
  });
});

describe('bad model files', () => {
  it('a missing file names the path and the fix', async () => {
    await assert.rejects(McModel.load('/nonexistent/model.onnx'), /Cannot read model \/nonexistent\/model.onnx: no such file. Pass an .onnx file./);
  });

  it('a file that is not ONNX says so', async () => {
    const file = writeModel(new TextEncoder().encode('this is not a protobuf model at all'), 'bad.onnx');
    await assert.rejects(McModel.load(file), (error: unknown) => error instanceof ModelError && /is not an ONNX model/.test(error.message));
  });
});

describe('float16 models', () => {
  /** input f16 [N,3,2,2] -> Relu -> Dropout (on float16) -> Flatten -> Cast float -> MatMul W -> output. */
  function halfModel(): Uint8Array {
    return buildModel({
      inputDims: ['N', 3, 2, 2],
      outputDims: ['N', 3],
      nodes: [
        { opType: 'Relu', input: ['input'], output: ['r'] },
        { opType: 'Conv', input: ['r', 'K'], output: ['c'] },
        dropoutNode('c', 'd', 'ratio', 'training'),
        { opType: 'Flatten', input: ['d'], output: ['f'] },
        { opType: 'Cast', input: ['f'], output: ['f32'], attribute: [{ name: 'to', type: 2, i: 1 }] },
        { opType: 'MatMul', input: ['f32', 'W'], output: ['output'] },
      ],
      initializers: [
        // 1x1 conv, identity on 3 channels, stored as float16 bits (1.0 = 0x3c00)
        { name: 'K', dataType: 10, dims: [3, 3, 1, 1], int32Data: [0x3c00, 0, 0, 0, 0x3c00, 0, 0, 0, 0x3c00] },
        scalarFloat('ratio', 0.5),
        scalarBool('training', true),
        floatTensor('W', [12, 3], testValues(36, 4)),
      ],
    });
  }

  it('runs a float16 input with float16 masks; the mean over passes is the dropout-off output', async () => {
    const { decodeModel, encodeModel, DataType } = await import('../../src/model/onnx.js');
    const model = decodeModel(halfModel());
    model.graph!.input![0]!.type!.tensorType!.elemType = DataType.FLOAT16;
    const file = writeModel(encodeModel(model));
    const mc = await McModel.load(file, { device: 'cpu' });
    assert.equal(mc.info.inputType, DataType.FLOAT16);
    assert.equal(mc.plan.trunkReuse, true, mc.plan.reason);
    const image = Float32Array.from([0.5, 1, 0.25, 2, 1.5, 0.75, 1, 0.125, 3, 0.5, 1, 2]); // exact in float16
    const passes = 4000;
    const [scores] = await mc.predictScores([image], { passes, seed: 9 });
    const [deterministic] = await mc.predictScores([image], { passes: 1, seed: 9, deterministic: true });
    await mc.dispose();
    const W = testValues(36, 4);
    for (let j = 0; j < 3; j++) {
      let expected = 0;
      let variance = 0;
      for (let i = 0; i < 12; i++) {
        expected += Math.fround(W[i * 3 + j]!) * image[i]!;
        variance += (Math.fround(W[i * 3 + j]!) * image[i]!) ** 2; // p/(1-p) = 1 at p = 0.5
      }
      assert.ok(Math.abs(deterministic![j]! - expected) < 1e-5, `deterministic ${j}`);
      let mean = 0;
      for (let t = 0; t < passes; t++) mean += scores![t * 3 + j]!;
      mean /= passes;
      assert.ok(Math.abs(mean - expected) <= 4 * Math.sqrt(variance / passes), `output ${j}: ${mean} vs ${expected}`);
    }
  });
});

describe('McModel.load from bytes', () => {
  it('a serialized model (as InferenceSession.create takes it) gives the bytes of the same model loaded by path', async () => {
    const bytes = linearModel(0.3, H, W, weights, CLASSES);
    const fromBytes = await McModel.load(bytes, { device: 'cpu' });
    const fromFile = await McModel.load(writeModel(bytes), { device: 'cpu' });
    try {
      const options = { passes: 50, seed: 7 };
      assert.deepEqual(await fromBytes.predictScores([x], options), await fromFile.predictScores([x], options));
      assert.equal(fromBytes.info.sha256, fromFile.info.sha256);
      assert.equal(fromBytes.info.path, 'the model bytes');
    } finally {
      await fromBytes.dispose();
      await fromFile.dispose();
    }
  });

  it('refuses bytes whose weights live in external files, naming them and the fix, and bytes that are no model', async () => {
    const model = decodeModel(linearModel(0.3, H, W, weights, CLASSES));
    const w = model.graph!.initializer!.find((t) => t.dims?.length === 2)!;
    Object.assign(w, { floatData: [], dataLocation: DataLocation.EXTERNAL, externalData: [{ key: 'location', value: 'weights.bin' }] });
    await assert.rejects(
      McModel.load(encodeModel(model), { device: 'cpu' }),
      (e: unknown) => e instanceof ModelError && /external files \(weights\.bin\), which bytes cannot carry; load it from its file path/.test(e.message),
    );
    await assert.rejects(
      McModel.load(new Uint8Array([1, 2, 3]), { device: 'cpu' }),
      (e: unknown) => e instanceof ModelError && /^the model bytes is not an ONNX model/.test(e.message),
    );
  });
});
