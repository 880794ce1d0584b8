/**
 * Passes that cannot differ (#34): dropout converted at rate 0 (--inject-at T:0, --inject-rate 0)
 * or --dropout-rate 0 make every pass identical. inspect says not MC-ready (exit 1) with the
 * reason; predict, evaluate and calibrate warn through the one library path; --deterministic,
 * which asks for one pass, does not.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

const VGG = 'fixtures/models/vgg11_eval_export.onnx';
const IMAGE = 'fixtures/samples/bag-34.jpg';
const cpu = ['--device', 'cpu', '--seed', '1', '--no-progress'];
const IDENTICAL = /warning: every pass is identical: /;

describe('passes that cannot differ', () => {
  for (const injection of [
    ['--inject-at', '/classifier/classifier.4/Relu_output_0:0'],
    ['--inject-rate', '0'],
  ]) {
    it(`convert ${injection.join(' ')}: inspect is not MC-ready (exit 1), predict warns and its passes agree`, async () => {
      const model = path.join(tempDir(), 'rate-0.onnx');
      assert.equal((await runCli(['convert', VGG, ...injection, '-o', model])).code, 0);
      const inspected = await runCli(['inspect', model]);
      assert.equal(inspected.code, 1, inspected.stdout);
      assert.match(inspected.stdout, /\nMC-ready: no\n/);
      assert.match(
        inspected.stdout,
        /warning: every pass is identical: the one stochastic site reaching the output '\S+' has rate 0 \(Dropout mc_dropout\.site0\), so mutual information, variation ratio and the spread are 0/,
      );
      const predicted = await runCli(['predict', IMAGE, '-m', model, '-t', '5', ...cpu]);
      assert.equal(predicted.code, 0, predicted.stderr);
      assert.match(predicted.stderr, IDENTICAL);
      const [row] = parse<Record<string, string>>(predicted.stdout, { columns: true });
      assert.equal(row!.mutual_information, '0.000000');
      assert.equal(row!.variation_ratio, '0.000000');
      const deterministic = await runCli(['predict', IMAGE, '-m', model, '--deterministic', ...cpu]);
      assert.equal(deterministic.code, 0, deterministic.stderr);
      assert.doesNotMatch(deterministic.stderr, IDENTICAL);
    });
  }

  it('--dropout-rate 0 on the bundled model: predict, evaluate and calibrate warn, naming the flag', async () => {
    const labeled = ['fixtures/samples', '--truth', 'fixtures/samples.csv', '-t', '2', '--dropout-rate', '0', ...cpu];
    const runs = [
      await runCli(['predict', IMAGE, '-t', '2', '--dropout-rate', '0', ...cpu]),
      await runCli(['evaluate', ...labeled]),
      await runCli(['calibrate', ...labeled, '-o', path.join(tempDir(), 'calibration.json')]),
    ];
    for (const run of runs) {
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /warning: every pass is identical: --dropout-rate is 0, so mutual information/);
    }
    const plain = await runCli(['predict', IMAGE, '-t', '2', ...cpu]);
    assert.doesNotMatch(plain.stderr, IDENTICAL);
  });
});
