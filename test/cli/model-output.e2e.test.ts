import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { DataType } from '../../src/model/onnx.js';
import { buildModel, dropoutNode, floatTensor, scalarBool, scalarFloat, testValues } from '../helpers/graphs.js';

// input [N, 3, 2, 2] -> Flatten -> Dropout(0.5) -> two Gemm heads 'a' [N, 3] and 'b' [N, 4]
const file = path.join(tempDir(), 'two-heads.onnx');
writeFileSync(
  file,
  buildModel({
    inputDims: ['N', 3, 2, 2],
    initializers: [
      floatTensor('wa', [3, 12], testValues(36, 1)),
      floatTensor('wb', [4, 12], testValues(48, 2)),
      scalarFloat('ratio', 0.5),
      scalarBool('training', true),
    ],
    nodes: [
      { opType: 'Flatten', input: ['input'], output: ['features'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
      dropoutNode('features', 'dropped', 'ratio', 'training'),
      { opType: 'Gemm', input: ['dropped', 'wa'], output: ['a'], attribute: [{ name: 'transB', type: 2, i: 1 }] },
      { opType: 'Gemm', input: ['dropped', 'wb'], output: ['b'], attribute: [{ name: 'transB', type: 2, i: 1 }] },
    ],
    outputs: [
      { name: 'a', dims: ['N', 3] },
      { name: 'b', dims: ['N', 4] },
    ],
  }),
);
const IMAGE = 'fixtures/samples/bag-34.jpg';

// input -> Flatten -> Dropout(0.5) -> Gemm 'logits' [N, 3], and 'codes' = Cast(logits, int64) [N, 3]
const int64File = path.join(tempDir(), 'int64-output.onnx');
writeFileSync(
  int64File,
  buildModel({
    inputDims: ['N', 3, 2, 2],
    initializers: [floatTensor('w', [3, 12], testValues(36, 1)), scalarFloat('ratio', 0.5), scalarBool('training', true)],
    nodes: [
      { opType: 'Flatten', input: ['input'], output: ['features'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
      dropoutNode('features', 'dropped', 'ratio', 'training'),
      { opType: 'Gemm', input: ['dropped', 'w'], output: ['logits'], attribute: [{ name: 'transB', type: 2, i: 1 }] },
      { opType: 'Cast', input: ['logits'], output: ['codes'], attribute: [{ name: 'to', type: 2, i: DataType.INT64 }] },
    ],
    outputs: [
      { name: 'logits', dims: ['N', 3] },
      { name: 'codes', dims: ['N', 3], elemType: DataType.INT64 },
    ],
  }),
);

describe('--model-output: the class scores of a model with several outputs', () => {
  it('predict refuses to guess between two class-score outputs (exit 3, both named) and reads the one named', async () => {
    const guess = await runCli(['predict', IMAGE, '-m', file, '--seed', '1', '-q', '--device', 'cpu']);
    assert.equal(guess.code, 3);
    assert.match(guess.stderr, /has 2 outputs that could be class scores \(a \[N, 3\], b \[N, 4\]\); name the classifier's with --model-output NAME/);
    const chosen = await runCli(['predict', IMAGE, '-m', file, '--seed', '1', '-q', '--device', 'cpu', '--model-output', 'b', '-k', '4']);
    assert.equal(chosen.code, 0, chosen.stderr);
    const [row] = parse<Record<string, string>>(chosen.stdout, { columns: true });
    // the top 4 of 'b' are its four classes (no labels: class indices), each once
    assert.deepEqual([1, 2, 3, 4].map((k) => row![`top${k}_label`]).sort(), ['0', '1', '2', '3']);
  });

  it('inspect says which output it reads and is MC-ready with --model-output', async () => {
    const plain = await runCli(['inspect', file, '--json']);
    assert.equal(plain.code, 1);
    assert.equal((JSON.parse(plain.stdout) as { classifier_output: string | null }).classifier_output, null);
    const chosen = await runCli(['inspect', file, '--json', '--model-output', 'b']);
    assert.equal(chosen.code, 0, chosen.stdout);
    assert.equal((JSON.parse(chosen.stdout) as { classifier_output: string }).classifier_output, 'b');
  });

  it('an int64 output named by --model-output: inspect is not MC-ready (exit 1) with the message predict refuses it with (exit 3, no row)', async () => {
    const message =
      /the output 'codes' holds int64 values, not class scores: mc-dropout reads logits or probabilities as float32 or float16\. Name the logits or probabilities output with --model-output NAME/;
    const inspected = await runCli(['inspect', int64File, '--model-output', 'codes']);
    assert.equal(inspected.code, 1, inspected.stdout);
    assert.match(inspected.stdout, /\nMC-ready: no\n/);
    assert.match(inspected.stdout, message);
    const predicted = await runCli(['predict', IMAGE, '-m', int64File, '--model-output', 'codes', '--seed', '1', '--device', 'cpu']);
    assert.equal(predicted.code, 3, predicted.stderr);
    assert.match(predicted.stderr, message);
    assert.equal(predicted.stdout, '');
    // left to choose, both read the float logits
    assert.equal((await runCli(['inspect', int64File])).code, 0);
    assert.equal((await runCli(['predict', IMAGE, '-m', int64File, '--seed', '1', '-q', '--device', 'cpu'])).code, 0);
  });
});
