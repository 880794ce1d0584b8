import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

// An output that is one of the command's inputs is refused before any work (exit 2, both named),
// by file identity, so a link or another spelling of the path is caught too; the input stays whole.
const MODEL = path.join(ROOT, 'models/fashion-mnist-mc.onnx');
const IMAGE = path.join(ROOT, 'fixtures/samples/bag-34.jpg');
const FAST = ['--seed', '1', '-t', '2', '-q', '--device', 'cpu'];

/** A copy of `file` in a fresh folder, its path and original bytes. */
function copyOf(file: string, name = path.basename(file)): { file: string; bytes: Buffer } {
  const copy = path.join(tempDir(), name);
  copyFileSync(file, copy);
  return { file: copy, bytes: readFileSync(copy) };
}

async function refused(args: string[], input: { file: string; bytes: Buffer }, message: RegExp): Promise<void> {
  const run = await runCli(args);
  assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
  assert.match(run.stderr, message);
  assert.match(run.stderr, /writing it would destroy it\. Give another output file\./);
  assert.deepEqual(readFileSync(input.file), input.bytes, `${input.file} is unchanged`);
}

describe('outputs never touch inputs', () => {
  it('predict: -o the model, --meta the labels file, -o the --list file, --save-passes an input image', async () => {
    const model = copyOf(MODEL);
    await refused(['predict', IMAGE, '-m', model.file, ...FAST, '-o', model.file], model, /is the model and also the output/);
    const labels = copyOf(path.join(ROOT, 'fixtures/samples.csv'), 'labels.txt');
    writeFileSync(labels.file, 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n');
    labels.bytes = readFileSync(labels.file);
    await refused(
      ['predict', IMAGE, ...FAST, '--labels', labels.file, '-o', path.join(path.dirname(labels.file), 'out.csv'), '--meta', labels.file],
      labels,
      /labels\.txt is the labels file and also the metadata file/,
    );
    const list = copyOf(IMAGE, 'list.txt');
    writeFileSync(list.file, `${IMAGE}\n`);
    list.bytes = readFileSync(list.file);
    await refused(['predict', '--list', list.file, ...FAST, '-o', list.file], list, /list\.txt is the list of inputs and also the output/);
    const image = copyOf(IMAGE);
    await refused(['predict', image.file, ...FAST, '--save-passes', image.file], image, /bag-34\.jpg is an input image and also the passes file/);
  });

  it("predict: through a symbolic link, and into the model's external weights", async () => {
    const model = copyOf(MODEL);
    const link = path.join(tempDir(), 'out.csv');
    symlinkSync(model.file, link);
    await refused(['predict', IMAGE, '-m', model.file, ...FAST, '-o', link], model, /is the model and also the output \(.*out\.csv\)/);
    const folder = tempDir();
    copyFileSync(path.join(ROOT, 'fixtures/modern/mnv3_dropout.onnx'), path.join(folder, 'mnv3_dropout.onnx'));
    const data = copyOf(path.join(ROOT, 'fixtures/modern/mnv3_dropout.onnx.data'));
    copyFileSync(data.file, path.join(folder, 'mnv3_dropout.onnx.data'));
    data.file = path.join(folder, 'mnv3_dropout.onnx.data');
    await refused(
      ['predict', IMAGE, '-m', path.join(folder, 'mnv3_dropout.onnx'), ...FAST, '-o', data.file],
      data,
      /mnv3_dropout\.onnx\.data is the model's external weights and also the output/,
    );
  });

  it('evaluate and report: --json the truth file, -o an input image, -o the --from file', async () => {
    const truth = copyOf(path.join(ROOT, 'fixtures/samples.csv'));
    await refused(
      ['evaluate', 'fixtures/samples', '--truth', truth.file, ...FAST, '--json', truth.file],
      truth,
      /samples\.csv is the truth file and also the JSON file/,
    );
    const image = copyOf(IMAGE);
    await refused(['report', image.file, ...FAST, '-o', image.file], image, /bag-34\.jpg is an input image and also the report/);
    const evaluation = path.join(tempDir(), 'eval.json');
    const run = await runCli(['evaluate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', ...FAST, '--json', evaluation]);
    assert.equal(run.code, 0, run.stderr);
    await refused(
      ['report', '--from', evaluation, '-o', evaluation],
      { file: evaluation, bytes: readFileSync(evaluation) },
      /eval\.json is the earlier run and also the report/,
    );
  });

  it('convert: -o the model itself; a missing folder, a parent that is a file: exit 2 before the conversion', async () => {
    const model = copyOf(MODEL);
    await refused(['convert', model.file, '--live', 'all', '-o', model.file], model, /is the model and also the converted model/);
    const missing = await runCli(['convert', MODEL, '--live', 'all', '-o', path.join(tempDir(), 'no', 'such', 'm.onnx')]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /Cannot write the converted model .*m\.onnx: the folder .*such does not exist; create it first/);
    const underFile = await runCli(['convert', MODEL, '--live', 'all', '-o', path.join(model.file, 'm.onnx')]);
    assert.equal(underFile.code, 2, underFile.stderr);
    assert.match(underFile.stderr, /fashion-mnist-mc\.onnx is not a folder/);
  });

  it("merge: --meta a shard's own file", async () => {
    const folder = tempDir();
    const out = path.join(folder, 'out.csv');
    for (const shard of ['0/2', '1/2']) assert.equal((await runCli(['predict', 'fixtures/samples', ...FAST, '--shard', shard, '-o', out])).code, 0);
    const shard = path.join(folder, 'out.shard-0000-of-0002.csv');
    await refused(
      ['merge', '-o', out, '--meta', shard],
      { file: shard, bytes: readFileSync(shard) },
      /out\.shard-0000-of-0002\.csv is a shard and also the merged metadata/,
    );
  });
});
