/** Batch jobs never destroy a file and never report a wrong number as ok (issue #13), through the real binary. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { EXIT_CODE_TABLE } from '../../src/cli/exit-codes.js';
import { BIN, ROOT, runCli } from '../helpers/cli.js';
import { tempDir, writeModel } from '../helpers/files.js';
import { buildModel, dropoutNode, floatTensor, scalarBool, scalarFloat, testValues } from '../helpers/graphs.js';

type Row = Record<string, string>;
const readCsv = (text: string): Row[] => parse<Row>(text, { columns: true });
const SAMPLE = path.join(ROOT, 'fixtures/samples/bag-18.png');
const SAMPLES = path.join(ROOT, 'fixtures/samples');
const cpu = ['--device', 'cpu', '--seed', '1', '-t', '3'];

/** A copy of two sample images in a fresh folder. */
function twoImages(): string {
  const folder = tempDir();
  for (const f of ['bag-18.png', 'coat-10.png']) copyFileSync(path.join(SAMPLES, f), path.join(folder, f));
  return folder;
}

describe('outputs: validated before any image is read, never destroying another file', () => {
  it('a missing folder, a folder, the input itself, or two outputs on one file: exit 2, nothing written', async () => {
    const folder = twoImages();
    const victim = path.join(folder, 'bag-18.png');
    const before = readFileSync(victim);
    const cases: [string[], RegExp][] = [
      [
        ['-o', path.join(folder, 'missing/dir/out.csv')],
        /Cannot write the output .*missing\/dir\/out\.csv: the folder .*missing\/dir does not exist; create it first/,
      ],
      [['-o', 'x.csv', '--meta', path.join(folder, 'missing/m.json')], /Cannot write the metadata file .*missing\/m\.json: the folder .* does not exist/],
      [['-o', folder], /is a folder; give a file name for the output/],
      [['-o', victim], /bag-18\.png is an input image and also the output .*writing it would destroy it/],
      [
        ['-o', path.join(folder, 'x.csv'), '--meta', path.join(folder, 'x.csv')],
        /the output and the metadata file both name .*x\.csv; give them different files/,
      ],
    ];
    for (const [flags, pattern] of cases) {
      const { code, stdout, stderr } = await runCli(['predict', folder, ...cpu, ...flags], { cwd: tempDir() });
      assert.equal(code, 2, `${flags.join(' ')}: ${stderr}`);
      assert.match(stderr, pattern);
      assert.equal(stderr.trim().split('\n').length, 1, 'one line');
      assert.equal(stdout, '');
    }
    assert.deepEqual(readFileSync(victim), before);
    assert.deepEqual(readdirSync(folder).sort(), ['bag-18.png', 'coat-10.png']);
  });

  it('devices and pipes are written straight through: /dev/null stays a device, /dev/stdout carries the rows', async () => {
    const devNull = await runCli(['predict', SAMPLE, ...cpu, '-q', '-o', '/dev/null']);
    assert.equal(devNull.code, 0, devNull.stderr);
    assert.ok(statSync('/dev/null').isCharacterDevice());
    assert.equal(existsSync('/dev/null.meta.json'), false);
    const toStdout = await runCli(['predict', SAMPLE, ...cpu, '-q', '-o', '/dev/stdout']);
    assert.equal(toStdout.code, 0, toStdout.stderr);
    assert.equal(readCsv(toStdout.stdout)[0]!.path, SAMPLE);
  });

  it('a symlinked output: the link stays, its target gets the rows', async () => {
    const folder = tempDir();
    mkdirSync(path.join(folder, 'real'));
    writeFileSync(path.join(folder, 'real/out.csv'), 'old\n');
    symlinkSync('real/out.csv', path.join(folder, 'link.csv'));
    const { code, stderr } = await runCli(['predict', SAMPLE, ...cpu, '-q', '-o', 'link.csv'], { cwd: folder });
    assert.equal(code, 0, stderr);
    assert.ok(lstatSync(path.join(folder, 'link.csv')).isSymbolicLink());
    assert.equal(readlinkSync(path.join(folder, 'link.csv')), 'real/out.csv');
    assert.equal(readCsv(readFileSync(path.join(folder, 'real/out.csv'), 'utf8'))[0]!.path, SAMPLE);
    assert.deepEqual(readdirSync(path.join(folder, 'real')).sort(), ['out.csv', 'out.csv.meta.json'], 'no temp, partial or lock file left');
  });

  it("a second run on the same output refuses at once, naming the first run and its lock; a dead run's lock is taken over", async () => {
    const folder = tempDir();
    const output = path.join(folder, 'out.csv');
    const first = spawn(process.execPath, [BIN, 'predict', SAMPLES, ...cpu, '-t', '200', '-b', '1', '-q', '-o', output], { stdio: 'ignore' });
    const firstDone = new Promise<number | null>((resolve) => first.on('close', resolve));
    while (!existsSync(`${output}.lock`)) await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await runCli(['predict', SAMPLE, ...cpu, '-q', '-o', output]);
    assert.equal(second.code, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`the output ${output} is being written by another mc-dropout run \\(PID ${first.pid}, lock ${output}\\.lock\\)`));
    assert.equal(await firstDone, 0);
    assert.equal(readCsv(readFileSync(output, 'utf8')).length, 50, 'the first run finished with all its rows');
    assert.equal(existsSync(`${output}.lock`), false);

    writeFileSync(`${output}.lock`, `999999999@${hostname()}\n`);
    const taken = await runCli(['predict', SAMPLE, ...cpu, '-q', '-o', output]);
    assert.equal(taken.code, 0, taken.stderr);
    assert.equal(existsSync(`${output}.lock`), false);
  });
});

describe('honest rows', () => {
  const flatten = { opType: 'Flatten', input: ['input'], output: ['flat'], attribute: [{ name: 'axis', type: 2, i: 1 }] };
  const live = [scalarFloat('ratio', 0.5), scalarBool('training', true)];

  it('non-finite outputs make error rows with the reason, exit 1', async () => {
    // Sqrt of the normalized pixels: NaN wherever a pixel is darker than the ImageNet mean
    const model = writeModel(
      buildModel({
        inputDims: ['N', 3, 4, 4],
        outputDims: ['N', 3],
        nodes: [
          flatten,
          dropoutNode('flat', 'dropped', 'ratio', 'training'),
          { opType: 'Sqrt', input: ['dropped'], output: ['root'] },
          { opType: 'MatMul', input: ['root', 'W'], output: ['output'] },
        ],
        initializers: [...live, floatTensor('W', [48, 3], testValues(144, 1))],
      }),
    );
    const { code, stdout, stderr } = await runCli(['predict', SAMPLE, '-m', model, ...cpu]);
    assert.equal(code, 1, stderr);
    const [row] = readCsv(stdout);
    assert.equal(row!.status, 'error');
    assert.match(row!.error!, /^model output is not finite \(NaN or infinity\) in pass \d+$/);
    assert.equal(row!.confidence, '');
  });

  it('batch-dependent (BatchNorm in training mode) and one-class models: predict exits 3, inspect says not MC-ready', async () => {
    const oneClass = writeModel(
      buildModel({
        inputDims: ['N', 3, 4, 4],
        outputDims: ['N', 1],
        nodes: [
          flatten,
          dropoutNode('flat', 'dropped', 'ratio', 'training'),
          { opType: 'MatMul', input: ['dropped', 'W'], output: ['z'] },
          { opType: 'Sigmoid', input: ['z'], output: ['output'] },
        ],
        initializers: [...live, floatTensor('W', [48, 1], testValues(48, 2))],
      }),
    );
    const cases: [string, RegExp][] = [
      [
        path.join(ROOT, 'fixtures/models/mobilenet_v2_train_mode.onnx'),
        /52 BatchNormalization node\(s\) were exported in training mode .*Export with model\.eval\(\)/,
      ],
      [oneClass, /has 1 class, not a distribution over classes.*Export the logits of both classes/],
    ];
    for (const [model, pattern] of cases) {
      const predicted = await runCli(['predict', SAMPLE, '-m', model, ...cpu]);
      assert.equal(predicted.code, 3, predicted.stderr);
      assert.match(predicted.stderr, pattern);
      assert.equal(predicted.stdout, '');
      const inspected = await runCli(['inspect', model]);
      assert.equal(inspected.code, 1);
      assert.match(inspected.stdout, /MC-ready: no/);
      assert.match(inspected.stdout, pattern);
    }
  });
});

describe('inputs', () => {
  it('--list: comments, paths relative to the working directory, a missing path is an error row and the batch goes on', async () => {
    const folder = twoImages();
    writeFileSync(path.join(folder, 'list.txt'), '# today\nbag-18.png\n\nmissing.png\n  coat-10.png  \n');
    const { code, stdout, stderr } = await runCli(['predict', '--list', 'list.txt', ...cpu], { cwd: folder });
    assert.equal(code, 1, stderr);
    assert.deepEqual(
      readCsv(stdout).map((r) => [r.path, r.status, r.error]),
      [
        ['bag-18.png', 'ok', ''],
        ['missing.png', 'error', 'no such file'],
        ['coat-10.png', 'ok', ''],
      ],
    );
  });

  it('--list0 reads NUL-separated paths exactly (find -print0), names with newlines too', async () => {
    const folder = twoImages();
    copyFileSync(path.join(SAMPLES, 'bag-18.png'), path.join(folder, 'two\nlines.png'));
    writeFileSync(path.join(folder, 'list0'), 'coat-10.png\0two\nlines.png\0');
    const { code, stdout, stderr } = await runCli(['predict', '--list0', 'list0', ...cpu], { cwd: folder });
    assert.equal(code, 0, stderr);
    assert.deepEqual(
      readCsv(stdout).map((r) => r.path),
      ['coat-10.png', 'two\nlines.png'],
    );
  });

  it('a broken link in a folder is an error row, not a skipped file', async () => {
    const folder = twoImages();
    symlinkSync(path.join(folder, 'gone.png'), path.join(folder, 'dangling.png'));
    const { code, stdout } = await runCli(['predict', folder, ...cpu]);
    assert.equal(code, 1);
    const rows = readCsv(stdout);
    assert.deepEqual(
      rows.find((r) => r.path!.endsWith('dangling.png')),
      { ...rows.find((r) => r.path!.endsWith('dangling.png')), status: 'error', error: 'broken symbolic link' },
    );
    assert.equal(rows.filter((r) => r.status === 'ok').length, 2);
  });

  it('no input images: exit 2 naming the folder; --allow-empty writes the header and exits 0', async () => {
    const empty = tempDir();
    writeFileSync(path.join(empty, 'notes.txt'), 'no images here');
    const refused = await runCli(['predict', empty, ...cpu]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, new RegExp(`No input images in ${empty} \\(1 files without an image extension\\)`));
    const allowed = await runCli(['predict', empty, ...cpu, '--allow-empty']);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(allowed.stdout.trim().split('\n').length, 1);
  });

  it('the error column is the same in every run and at every decode concurrency', async () => {
    const run = async (concurrency: string) => (await runCli(['predict', 'fixtures/bad', 'fixtures/odd', ...cpu, '--decode-concurrency', concurrency])).stdout;
    const first = await run('16');
    assert.equal(await run('16'), first);
    assert.equal(await run('1'), first);
  });
});

describe('signals and exit codes', () => {
  /** Starts a long run and sends `signal` once its partial output holds a few rows. */
  function stopAfterRows(signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string; folder: string }> {
    const folder = tempDir();
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, 'predict', SAMPLES, ...cpu, '-t', '50', '-b', '1', '-o', 'out.csv', '--no-progress'], { cwd: folder });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setInterval(() => {
        const partial = path.join(folder, 'out.csv.partial');
        if (existsSync(partial) && readFileSync(partial, 'utf8').split('\n').length > 4) {
          clearInterval(timer);
          child.kill(signal);
        }
      }, 2);
      child.on('close', (code) => {
        clearInterval(timer);
        resolve({ code, stderr, folder });
      });
    });
  }

  for (const [signal, status] of [
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    it(`${signal} saves the finished rows, says how to resume, exits ${status}; --resume completes the run`, async () => {
      const { code, stderr, folder } = await stopAfterRows(signal);
      assert.equal(code, status, stderr);
      assert.match(stderr, new RegExp(`stopped by ${signal} after \\d+ of 50 images; finished rows are saved; rerun the same command with --resume to finish`));
      const saved = readCsv(readFileSync(path.join(folder, 'out.csv.partial'), 'utf8'));
      assert.ok(saved.length >= 3 && saved.length < 50, `${saved.length} rows`);
      const resumed = await runCli(['predict', SAMPLES, ...cpu, '-t', '50', '-b', '1', '-o', 'out.csv', '-q', '--resume'], { cwd: folder });
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.equal(readCsv(readFileSync(path.join(folder, 'out.csv'), 'utf8')).length, 50);
    });
  }

  it('--help and the README list the same exit codes', async () => {
    const help = (await runCli(['predict', '--help'])).stdout;
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const [code, meaning] of EXIT_CODE_TABLE) {
      assert.ok(help.includes(`  ${String(code).padEnd(4)} ${meaning}`), `--help lacks ${code}`);
      assert.ok(readme.includes(`| ${code} | ${meaning} |`), `README lacks ${code}`);
    }
  });

  it('a missing model file is a model error (exit 3) in every command', async () => {
    for (const command of [
      ['predict', SAMPLE, '-m', 'nope.onnx', '--device', 'cpu'],
      ['inspect', 'nope.onnx'],
      ['convert', 'nope.onnx', '-o', path.join(tempDir(), 'x.onnx')],
    ]) {
      const { code, stderr } = await runCli(command);
      assert.equal(code, 3, `${command[0]}: ${stderr}`);
      assert.match(stderr, /Cannot read model nope\.onnx: no such file\. Pass an \.onnx file\./);
    }
  });
});

describe('README examples are checked', () => {
  it('the quick start prints the rows the README shows (--seed 42)', async () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const block = /shown here with `--seed 42`[\s\S]*?```text\n([\s\S]*?)\n```/.exec(readme)![1]!;
    const shown = block.split('\n').filter((l) => !l.startsWith('...'));
    const { code, stdout } = await runCli(['predict', 'fixtures/samples', '--times', '10', '--seed', '42', '--device', 'cpu']);
    assert.equal(code, 0);
    assert.deepEqual(stdout.split('\n').slice(0, shown.length), shown);
  });
});
