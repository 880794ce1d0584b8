import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

type Row = Record<string, string>;
const readCsv = (text: string): Row[] => parse<Row>(text, { columns: true });
const MODERN = path.join(ROOT, 'fixtures/modern');
const SAMPLES = path.join(ROOT, 'fixtures/samples');

/** A copy of a fixture model (and its data file, unless told not to) in a fresh folder. */
function copyModel(name: string, options: { withData?: boolean } = {}): string {
  const folder = tempDir();
  copyFileSync(path.join(MODERN, `${name}.onnx`), path.join(folder, `${name}.onnx`));
  if (options.withData !== false && existsSync(path.join(MODERN, `${name}.onnx.data`))) {
    copyFileSync(path.join(MODERN, `${name}.onnx.data`), path.join(folder, `${name}.onnx.data`));
  }
  return path.join(folder, `${name}.onnx`);
}

describe('PyTorch 2.x exports through the real binary', () => {
  it('external weights load from any working directory; the hash in the metadata covers the data file', async () => {
    const model = path.join(MODERN, 'effnet_droppath.onnx');
    const out = path.join(tempDir(), 'out.csv');
    const { code, stderr } = await runCli(['predict', SAMPLES, '-m', model, '-t', '4', '--seed', '3', '--device', 'cpu', '-o', out], { cwd: tempDir() });
    assert.equal(code, 0, stderr);
    assert.equal(readCsv(readFileSync(out, 'utf8')).length, 50);
    const meta = JSON.parse(readFileSync(`${out}.meta.json`, 'utf8')) as { model: { sha256: string } };
    const expected = createHash('sha256')
      .update(readFileSync(model))
      .update('\0effnet_droppath.onnx.data\0')
      .update(readFileSync(`${model}.data`))
      .digest('hex');
    assert.equal(meta.model.sha256, expected);
  });

  it('a missing data file is a model error (exit 3) naming the file and the fix', async () => {
    const model = copyModel('effnet_droppath', { withData: false });
    for (const command of [
      ['predict', SAMPLES, '-m', model, '--device', 'cpu'],
      ['inspect', model],
    ]) {
      const { code, stderr } = await runCli(command);
      assert.equal(code, command[0] === 'inspect' ? 3 : 3, stderr);
      assert.match(
        stderr,
        new RegExp(`keeps its weights in ${path.dirname(model)}/effnet_droppath\\.onnx\\.data, which is missing\\. Copy effnet_droppath\\.onnx\\.data into`),
      );
    }
  });

  it('--resume finishes a run with the same rows, and refuses once the weights in the data file changed', async () => {
    const model = copyModel('vit_droppath');
    const folder = tempDir();
    const files = ['ankle-boot-0.png', 'bag-18.png', 'bag-30.png', 'coat-10.png', 'dress-13.png'].map((f) => path.join(SAMPLES, f));
    const list = path.join(folder, 'list.txt');
    const args = (output: string) => ['predict', '--list', list, '-m', model, '-t', '5', '--seed', '11', '--device', 'cpu', '-o', output];
    writeFileSync(list, files.join('\n'));
    assert.equal((await runCli(args(path.join(folder, 'whole.csv')))).code, 0);
    writeFileSync(list, files.slice(0, 2).join('\n'));
    assert.equal((await runCli(args(path.join(folder, 'resumed.csv')))).code, 0);
    writeFileSync(list, files.join('\n'));
    const resumed = await runCli([...args(path.join(folder, 'resumed.csv')), '--resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(readFileSync(path.join(folder, 'resumed.csv'), 'utf8'), readFileSync(path.join(folder, 'whole.csv'), 'utf8'));

    const data = readFileSync(`${model}.data`);
    data[data.length - 1]! ^= 1;
    writeFileSync(`${model}.data`, data);
    const refused = await runCli([...args(path.join(folder, 'resumed.csv')), '--resume']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /settings differ from the earlier run \(model_sha256: earlier "[0-9a-f]{64}", now "[0-9a-f]{64}"\)/);
  });

  it('inspect names DropPath, DropBlock, Dropout and Gaussian noise with their rates, and rows that see each other', async () => {
    const cases: [string, RegExp[]][] = [
      [
        'effnet_droppath',
        [/weights: {2}in effnet_droppath\.onnx\.data beside the model/, /live {2}DropPath \(RandomUniformLike\) \S+ rate 0\.08 /, /trunk reuse: yes/],
      ],
      [
        'resnet_dropblock',
        [/live {2}DropBlock \(RandomUniformLike\) \S+ rate 0\.05 .*block 4x4, seed rate 0\.05/, /trunk reuse: no: rows would see each other: ReduceSum/],
      ],
      ['vit_droppath', [/live {2}Dropout \S+ rate 0\.1 /, /live {2}DropPath \(RandomUniformLike\) \S+ rate 0\.1 /]],
      ['mnv3_dropout', [/live {2}Dropout \(RandomUniformLike\) \S+ rate 0\.2 .*one draw per element/]],
      ['gaussian_noise', [/live {2}Gaussian noise \(RandomNormalLike\) \S+ sigma 0\.3 /]],
      // Hugging Face writes drop path as floor(rand + keep); its rates are linspace(0, 0.2, 4)[1:]
      [
        'swin_hf',
        [
          /live {2}DropPath \(RandomUniformLike\) \S+ rate 0\.0666667 .*Floor\(u \+ 0\.933333\), one draw per sample/,
          /live {2}DropPath \(RandomUniformLike\) \S+ rate 0\.2 /,
          /trunk reuse: yes/,
        ],
      ],
      [
        'swin_timm',
        [/live {2}Dropout node_native_dropout__1 rate 0\.1 /, /live {2}DropPath \(RandomUniformLike\) \S+ rate 0\.2 .*one draw per sample/, /trunk reuse: yes/],
      ],
    ];
    for (const [name, patterns] of cases) {
      const { code, stdout, stderr } = await runCli(['inspect', path.join(MODERN, `${name}.onnx`)]);
      assert.equal(code, 0, `${name}: ${stderr}`);
      for (const pattern of patterns) assert.match(stdout, pattern, name);
      assert.match(stdout, /MC-ready: yes/);
    }
  });

  it('convert --set-rate / --live all / --inject-rate on external-data models: one self-contained file that loads anywhere', async () => {
    const out = path.join(tempDir(), 'sub');
    mkdirSync(out);
    const cases: [string, string[], RegExp][] = [
      ['vit_droppath', ['--set-rate', '0.3'], /live {2}Dropout mc_dropout\.site0 rate 0\.3 /],
      ['vit_droppath', ['--live', 'all'], /live {2}Dropout mc_dropout\.site0 rate 0\.1 /],
      ['mnv3_dropout', ['--inject-rate', '0.25'], /live {2}Dropout mc_dropout\.site0 rate 0\.25 /],
    ];
    for (const [index, [name, flags, pattern]] of cases.entries()) {
      const target = path.join(out, `converted-${index}.onnx`);
      const converted = await runCli(['convert', path.join(MODERN, `${name}.onnx`), ...flags, '-o', target], { cwd: tempDir() });
      assert.equal(converted.code, 0, converted.stderr);
      assert.equal(existsSync(`${target}.data`), false, 'weights are embedded');
      const inspected = await runCli(['inspect', target]);
      assert.match(inspected.stdout, pattern);
      const predicted = await runCli(['predict', path.join(SAMPLES, 'bag-18.png'), '-m', target, '-t', '3', '--seed', '1', '--device', 'cpu'], {
        cwd: tempDir(),
      });
      assert.equal(predicted.code, 0, predicted.stderr);
      assert.equal(readCsv(predicted.stdout)[0]!.status, 'ok');
    }
  });
});
