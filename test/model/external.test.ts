import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { RuntimeSession } from '../../src/engine/runtime.js';
import { ModelError } from '../../src/errors.js';
import { checkExternalFiles, readExternalTensor } from '../../src/model/external.js';
import { protoOf } from '../../src/model/graph.js';
import { DataType, externalEntries, isExternal } from '../../src/model/onnx.js';
import { readModelForSession, readOnnxFile } from '../../src/model/read.js';
import { writeModelFile } from '../../src/model/write.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir, writeModel } from '../helpers/files.js';
import { buildModel, testValues } from '../helpers/graphs.js';

/** input [N, 3, 1, 1] -> Flatten -> MatMul W [3, 2000] (24,000 bytes of raw_data, as PyTorch writes) -> output [N, 2000] */
const weights = new Uint8Array(Float32Array.from(testValues(6000, 5)).buffer);
const embedded = buildModel({
  nodes: [
    { opType: 'Flatten', input: ['input'], output: ['flat'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
    { opType: 'MatMul', input: ['flat', 'W'], output: ['output'] },
  ],
  outputDims: ['N', 2000],
  initializers: [{ name: 'W', dataType: DataType.FLOAT, dims: [3, 2000], rawData: weights }],
});

describe('external weights', () => {
  it('a session reads large embedded weights from the model file itself: same bytes, no copy kept', async () => {
    const file = writeModel(embedded);
    const { model, folder } = await readModelForSession(file);
    const w = protoOf(model).graph!.initializer!.find((t) => t.name === 'W')!;
    assert.equal(isExternal(w), true);
    assert.equal(externalEntries(w).get('location'), 'model.onnx');
    assert.deepEqual(readExternalTensor(w, folder), weights);
  });

  it('refuses data files outside the model folder, or missing, naming them', () => {
    const folder = tempDir();
    assert.throws(() => checkExternalFiles(['../weights.bin'], folder, 'm.onnx'), /stores weights at '\.\.\/weights\.bin', outside its own folder/);
    assert.throws(() => checkExternalFiles(['/etc/passwd'], folder, 'm.onnx'), ModelError);
    assert.throws(() => checkExternalFiles(['m.onnx.data'], folder, 'm.onnx'), new RegExp(`keeps its weights in ${folder}/m\\.onnx\\.data, which is missing`));
    // a folder, a FIFO or a device where the data file should be: refused before its bytes are hashed (a FIFO would wait for ever)
    mkdirSync(path.join(folder, 'dir.data'));
    execFileSync('mkfifo', [path.join(folder, 'fifo.data')]);
    symlinkSync('/dev/zero', path.join(folder, 'zero.data'));
    for (const [name, kind] of [
      ['dir.data', 'a folder'],
      ['fifo.data', 'a FIFO (named pipe)'],
      ['zero.data', 'a device'],
    ] as const) {
      assert.throws(() => checkExternalFiles([name], folder, 'm.onnx'), {
        name: 'ModelError',
        message: `m.onnx keeps its weights in ${folder}/${name}, which is ${kind}; copy the data file there again`,
      });
    }
  });

  it('writes a converted model with one data file beside it above the embed limit; it loads by path from its folder', async () => {
    const source = path.join(ROOT, 'fixtures/modern/effnet_droppath.onnx');
    const { model, folder } = await readOnnxFile(source);
    const out = path.join(tempDir(), 'nested');
    mkdirSync(out);
    const target = path.join(out, 'copy.onnx');
    const written = await writeModelFile(
      model,
      folder,
      target,
      async (file) => {
        await (await RuntimeSession.create(file, { provider: 'cpu', deviceId: 0, threads: 1 })).release();
      },
      0,
    );
    assert.equal(written.embedded, false);
    assert.equal(written.dataFile, `${target}.data`);
    const reread = await readOnnxFile(target);
    assert.deepEqual(reread.externalFiles, ['copy.onnx.data']);
    assert.equal(readFileSync(`${target}.data`).length, readFileSync(`${source}.data`).length);
    // and embedded under the limit: one file, nothing beside it
    const single = path.join(out, 'single.onnx');
    assert.equal((await writeModelFile(model, folder, single, async () => {})).embedded, true);
    assert.equal(existsSync(`${single}.data`), false);
    assert.deepEqual((await readOnnxFile(single)).externalFiles, []);
  });
});
