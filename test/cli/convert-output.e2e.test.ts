/**
 * What `convert` writes loads cleanly: onnxruntime, at its default log level (warnings shown),
 * prints nothing about the written graph, in particular no "Removing initializer" for constants the
 * rewrite left unread (the replaced Dropout nodes' ratio and training_mode: four per bundled model).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { decodeModel, encodeModel } from '../../src/model/onnx.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

/** Stderr of a fresh node process that opens `file` in onnxruntime-node with default session options. */
function loadStderr(file: string): string {
  const script = `import ort from 'onnxruntime-node'; const s = await ort.InferenceSession.create(${JSON.stringify(file)}); await s.release();`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return run.stderr;
}

describe('convert writes models onnxruntime loads without warnings', () => {
  it('the bundled model, a MobileNetV2 with --inject-rate and an MC graph: no "Removing initializer" (the input files themselves show the check can see warnings)', async () => {
    const folder = tempDir();
    const cases = [
      { name: 'bundled.onnx', args: [path.join(ROOT, 'models/fashion-mnist-mc.onnx')] },
      { name: 'mobilenet.onnx', args: [path.join(ROOT, 'fixtures/models/mobilenet_v2_025.onnx'), '--inject-rate', '0.2'] },
      { name: 'bundled-mc.onnx', args: [path.join(ROOT, 'models/fashion-mnist-mc.onnx'), '--mc-graph', '4'] },
    ];
    for (const { name, args } of cases) {
      const out = path.join(folder, name);
      const made = await runCli(['convert', ...args, '-o', out]);
      assert.equal(made.code, 0, made.stderr);
      assert.doesNotMatch(made.stderr, /Removing initializer/, name);
      const stderr = loadStderr(out);
      assert.doesNotMatch(stderr, /Removing initializer|\[W:onnxruntime/, `${name}: ${stderr}`);
    }
    // a converted model of an earlier release kept the Dropout nodes' constants: the same loader sees them
    const old = path.join(folder, 'unconverted-with-dead-constants.onnx');
    const model = decodeModel(readFileSync(path.join(folder, 'bundled.onnx')));
    model.graph!.node = [
      { opType: 'Constant', name: 'dead', output: ['dead_out'], attribute: [{ name: 'value_float', type: 1, f: 0.5 }] },
      ...model.graph!.node!,
    ];
    writeFileSync(old, encodeModel(model));
    assert.match(loadStderr(old), /Removing initializer 'dead_out'/);
  });
});
