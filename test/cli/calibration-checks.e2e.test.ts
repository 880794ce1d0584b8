/**
 * What calibrate and --calibration say where their numbers would otherwise mislead (#34): a
 * temperature fit that stops at the end of its range, a calibration applied at another T, adaptive
 * T, another dropout rate or in deterministic mode, and a calibrate run stopped by SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BIN, ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

const cpu = ['--device', 'cpu', '--seed', '1', '--no-progress'];

/** Four sample images the bundled model gets right with confidence, and a truth CSV giving each `label` (its own class when undefined). */
function fourImages(label?: string): { folder: string; truth: string } {
  const folder = tempDir();
  const images: [string, string][] = [
    ['trouser-2.png', 'Trouser'],
    ['trouser-3.png', 'Trouser'],
    ['bag-34.jpg', 'Bag'],
    ['sneaker-9.png', 'Sneaker'],
  ];
  for (const [name] of images) copyFileSync(path.join(ROOT, 'fixtures/samples', name), path.join(folder, name));
  const truth = path.join(folder, 'truth.csv');
  writeFileSync(truth, `path,label\n${images.map(([name, own]) => `${name},${label ?? own}`).join('\n')}\n`);
  return { folder, truth };
}

describe('calibrate: a temperature fit at the end of its range', () => {
  it('four perfectly separated images: the fit stops at 0.05 and calibrate warns why and what to do (exit 0)', async () => {
    const { folder, truth } = fourImages();
    const out = path.join(tempDir(), 'calibration.json');
    const run = await runCli(['calibrate', folder, '--truth', truth, '-t', '5', ...cpu, '-o', out]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(Math.abs(JSON.parse(readFileSync(out, 'utf8')).temperature - 0.05) < 1e-9);
    assert.match(
      run.stderr,
      /warning: The fitted temperature hit the lower bound 0\.05 of the range searched \[0\.05, 20\]: on these 4 calibration images .*too few or perfectly separated.*calibrate on more labeled images/,
    );
  });

  it('four images all labeled wrong: the fit stops at 20 and the warning points at the true classes (--truth)', async () => {
    const { folder, truth } = fourImages('Dress');
    const run = await runCli(['calibrate', folder, '--truth', truth, '-t', '5', ...cpu, '-o', path.join(tempDir(), 'calibration.json')]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /warning: The fitted temperature hit the upper bound 20 of the range searched .*check the true classes \(--truth\)/);
  });

  it('fifty sample images fit inside the range: no warning', async () => {
    const run = await runCli(['calibrate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', '-t', '5', ...cpu, '-o', path.join(tempDir(), 'c.json')]);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /warning/);
  });
});

describe('--calibration applied to other passes than it was fitted on', () => {
  const IMAGE = 'fixtures/samples/bag-34.jpg';
  const folder = tempDir();
  const calibration = path.join(folder, 'calibration.json');
  const fitted = runCli(['calibrate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', '-t', '4', ...cpu, '-q', '-o', calibration]);

  it('another T, adaptive T or a --dropout-rate: a warning naming the file, both settings and the lost guarantee (exit 0)', async () => {
    assert.equal((await fitted).code, 0);
    const cases: [string[], RegExp][] = [
      [['-t', '2'], /T=2 \(--times\), where it was fitted at T=4\. .*coverage is no longer guaranteed: run with --times 4, or calibrate again/],
      [['-t', 'auto'], /adaptive T \(--times auto\), where it was fitted at T=4/],
      [
        ['-t', '4', '--dropout-rate', '0.3'],
        /was fitted on other passes than this run makes: dropout rates 0\.3 \(--dropout-rate\), where it was fitted at \[0\.25, 0\.5\]/,
      ],
    ];
    for (const [flags, message] of cases) {
      const run = await runCli(['predict', IMAGE, '--calibration', calibration, ...flags, ...cpu]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, new RegExp(`warning: The calibration ${calibration.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} `));
      assert.match(run.stderr, message);
    }
    const evaluated = await runCli(['evaluate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', '--calibration', calibration, '-t', '2', ...cpu]);
    assert.equal(evaluated.code, 0, evaluated.stderr);
    assert.match(evaluated.stderr, /T=2 \(--times\), where it was fitted at T=4/);
    const same = await runCli(['predict', IMAGE, '--calibration', calibration, '-t', '4', ...cpu]);
    assert.equal(same.code, 0, same.stderr);
    assert.doesNotMatch(same.stderr, /warning/);
  });

  it('--deterministic is refused (exit 2): the calibration holds for MC means; no output is written', async () => {
    assert.equal((await fitted).code, 0);
    const out = tempDir();
    const run = await runCli(['predict', IMAGE, '--calibration', calibration, '--deterministic', ...cpu, '-o', path.join(out, 'out.csv')]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(
      run.stderr,
      /holds for the mean of 4 MC passes; a deterministic pass \(dropout off\) gives other probabilities.*drop --deterministic, or drop --calibration/,
    );
    assert.deepEqual(readdirSync(out), []);
  });
});

describe('a calibrate or evaluate run stopped by SIGTERM', () => {
  /**
   * Starts a long run in `folder` (a broken image first, then the 50 samples at T=2000, one per
   * batch) and sends SIGTERM once the broken image's warning shows the run is past its first image.
   */
  function stopMidRun(args: string[], folder: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
    const inputs = [path.join(ROOT, 'fixtures/bad/text.png'), path.join(ROOT, 'fixtures/samples'), '--truth', path.join(ROOT, 'fixtures/samples.csv')];
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args.slice(0, 1), ...inputs, '-t', '2000', '-b', '1', ...cpu, ...args.slice(1)], { cwd: folder });
      let stderr = '';
      let sent = false;
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (!sent && /text\.png: not an image \(left out\)/.test(stderr)) {
          sent = true;
          child.kill('SIGTERM');
        }
      });
      child.on('close', (code, signal) => resolve({ code, signal, stderr }));
    });
  }

  it('calibrate says it was stopped, exits 143, and leaves the calibration it would replace as it was', async () => {
    const folder = tempDir();
    const out = path.join(folder, 'calibration.json');
    writeFileSync(out, '{"earlier": true}\n');
    const { code, signal, stderr } = await stopMidRun(['calibrate', '-o', out], folder);
    assert.equal(signal, null, `killed by the signal instead of stopping: ${stderr}`);
    assert.equal(code, 143, stderr);
    assert.match(
      stderr,
      /\nmc-dropout: stopped by SIGTERM after \d+ of 51 images; calibrate writes \S+calibration\.json only once every image is done, so nothing was written: rerun the same command\n$/,
    );
    assert.equal(readFileSync(out, 'utf8'), '{"earlier": true}\n');
    assert.deepEqual(readdirSync(folder), ['calibration.json']);
  });

  it('evaluate says it was stopped, exits 143 and writes no JSON', async () => {
    const folder = tempDir();
    const { code, stderr } = await stopMidRun(['evaluate', '--json', 'eval.json'], folder);
    assert.equal(code, 143, stderr);
    assert.match(
      stderr,
      /\nmc-dropout: stopped by SIGTERM after \d+ of 51 images; evaluate writes its output only once every image is done, so nothing was written/,
    );
    assert.deepEqual(readdirSync(folder), []);
  });
});
