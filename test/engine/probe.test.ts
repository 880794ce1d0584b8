/**
 * The probe learns row shapes, batch-major tensors and rows that mix from onnxruntime's shape
 * inference where it can, and from runs at batch 1 and 2 elsewhere. Both ways must give the same
 * answer: the runs are the ground truth, on every model the project carries.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { buildMobileNetV2 } from '../../bench/mobilenet.js';
import { concreteDims, probeModel, type ProbeResult } from '../../src/engine/probe.js';
import { describeIo } from '../../src/model/signature.js';
import { constantDims } from '../../src/model/onnx.js';
import { readMetadata } from '../../src/model/metadata.js';
import { readModelForSession } from '../../src/model/read.js';
import { findStochasticSites } from '../../src/model/sites.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir, writeModel } from '../helpers/files.js';

async function probeBoth(file: string): Promise<{ inferred: ProbeResult; run: ProbeResult; sites: number }> {
  const { model, folder } = await readModelForSession(file);
  const io = describeIo(model, file, readMetadata(model, file));
  const sites = findStochasticSites(model);
  const options = { withActivations: io.inputDims[0]! <= 0, file, ...(folder && { externalDataFolder: folder }) };
  return {
    inferred: await probeModel(model, sites, io, options),
    run: await probeModel(model, sites, io, { ...options, inferShapes: false }),
    sites: sites.length,
  };
}

const comparable = (p: ProbeResult) => ({ ...p, batchMajor: [...p.batchMajor].sort(), notPerRow: [...p.notPerRow].sort(), runs: undefined });

describe('probe', () => {
  it('shape inference gives what runs at batch 1 and 2 give, on every model the project carries', async () => {
    const folder = tempDir();
    const files = [
      ...readdirSync(path.join(ROOT, 'fixtures/modern'))
        .filter((f) => f.endsWith('.onnx'))
        .map((f) => path.join(ROOT, 'fixtures/modern', f)),
      ...readdirSync(path.join(ROOT, 'fixtures/models'))
        .filter((f) => f.endsWith('.onnx'))
        .map((f) => path.join(ROOT, 'fixtures/models', f)),
      path.join(ROOT, 'models/fashion-mnist-mc.onnx'),
      writeModel(buildMobileNetV2(), 'head.onnx', folder),
      writeModel(buildMobileNetV2({ dropPathRate: 0.2 }), 'droppath.onnx', folder),
    ];
    const runsWithInference: Record<string, number> = {};
    for (const file of files) {
      const { inferred, run, sites } = await probeBoth(file);
      if (sites === 0) continue; // nothing to probe
      assert.deepEqual(comparable(inferred), comparable(run), path.basename(file));
      assert.ok(run.runs >= 1, path.basename(file));
      runsWithInference[path.basename(file)] = inferred.runs;
    }
    // a plain CNN's shapes are all inferred: no run at all (the start-up cost this saves)
    for (const name of ['head.onnx', 'mobilenet_v2_025.onnx', 'vgg11_narrow.onnx', 'effnet_droppath.onnx', 'mnv3_dropout.onnx', 'fashion-mnist-mc.onnx']) {
      assert.equal(runsWithInference[name], 0, name);
    }
    // shapes computed at run time (timm's TorchScript DropPath: ConstantOfShape of a Shape) still run
    assert.ok(runsWithInference['effnet_droppath_torchscript.onnx']! >= 1);
    assert.ok(runsWithInference['droppath.onnx']! >= 1);
  });

  it('batch-major tensors are those onnxruntime (Python) sees start with the batch at batch 1 and 2 (ViT, DropBlock, EfficientNet, Swins)', async () => {
    // fixtures/modern/batch_major.py: every float tensor run at batch 1 and 2 by the Python onnxruntime.
    // The probe decides only the tensors trunk reuse and the row check read: none may be marked that
    // is not batch-major.
    const expected = JSON.parse(readFileSync(path.join(ROOT, 'fixtures/modern/batch-major.json'), 'utf8')) as Record<string, string[]>;
    const sizes: Record<string, number> = {};
    for (const [name, reference] of Object.entries(expected)) {
      const file = path.join(ROOT, 'fixtures/modern', `${name}.onnx`);
      const { model, folder } = await readModelForSession(file);
      const io = describeIo(model, file, readMetadata(model, file));
      const probed = await probeModel(model, findStochasticSites(model), io, { withActivations: true, file, ...(folder && { externalDataFolder: folder }) });
      const truth = new Set(reference);
      assert.deepEqual(
        [...probed.batchMajor].filter((t) => !truth.has(t)),
        [],
        `${name}: marked batch-major but not`,
      );
      sizes[name] = probed.batchMajor.size;
      // on the ViT and the Swins every block is read: the sets are equal
      if (['vit_droppath', 'swin_timm', 'swin_hf'].includes(name)) assert.deepEqual([...probed.batchMajor].sort(), [...reference].sort(), name);
    }
    assert.deepEqual(sizes, { vit_droppath: 102, resnet_dropblock: 46, effnet_droppath: 118, swin_timm: 156, swin_hf: 163 });
  });

  it("each site's rows per image are those onnxruntime (Python) sees: k where the first dim is k at batch 1 and 2k at batch 2 (Swins)", async () => {
    const folded = JSON.parse(readFileSync(path.join(ROOT, 'fixtures/modern/folded.json'), 'utf8')) as Record<string, Record<string, number>>;
    for (const [name, truth] of Object.entries(folded)) {
      const file = path.join(ROOT, 'fixtures/modern', `${name}.onnx`);
      const { model, folder } = await readModelForSession(file);
      const io = describeIo(model, file, readMetadata(model, file));
      const sites = findStochasticSites(model);
      const probed = await probeModel(model, sites, io, { withActivations: true, file, ...(folder && { externalDataFolder: folder }) });
      const expected = sites.map((s) => truth[s.drawn] ?? 1);
      assert.deepEqual(probed.siteFolds, expected, name);
      assert.ok(expected.filter((k) => k > 1).length === 2, `${name}: the two stage-1 attention dropouts fold`);
    }
  });

  it('concreteDims puts the batch in for its name and gives up on any other unknown', () => {
    assert.deepEqual(concreteDims(['N', 32, 7, 7], 'N', 2), [2, 32, 7, 7]);
    assert.deepEqual(concreteDims([17, 'N', 64], 'N', 1), [17, 1, 64]);
    assert.deepEqual(concreteDims([4, 10], undefined, 4), [4, 10]);
    assert.equal(concreteDims(['N', ''], 'N', 1), undefined);
    assert.equal(concreteDims(['N', 'seq'], 'N', 1), undefined);
    assert.equal(concreteDims(['N', 3], undefined, 1), undefined);
    assert.equal(concreteDims([-1, 3], 'N', 1), undefined);
    // no dims: unknown rank or a scalar, which only a run tells apart
    assert.equal(concreteDims([], 'N', 1), undefined);
  });

  it("constantDims reads a Constant node's dims from its attribute (scalars included)", () => {
    const constant = (attribute: object) => ({ opType: 'Constant', output: ['c'], attribute: [attribute] });
    assert.deepEqual(constantDims(constant({ name: 'value', t: { dims: [2, 3], dataType: 1 } })), [2, 3]);
    assert.deepEqual(constantDims(constant({ name: 'value', t: { dataType: 1 } })), []);
    assert.deepEqual(constantDims(constant({ name: 'value_float', f: 0.5 })), []);
    assert.deepEqual(constantDims(constant({ name: 'value_ints', ints: [1, 2, 3] })), [3]);
    assert.equal(constantDims(constant({ name: 'sparse_value' })), undefined);
    assert.equal(constantDims({ opType: 'Relu', output: ['r'] }), undefined);
  });
});
