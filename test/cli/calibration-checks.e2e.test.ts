/**
 * What calibrate and --calibration say where their numbers would otherwise mislead (#34): a
 * temperature fit that stops at the end of its range, a calibration applied at another T, adaptive
 * T, another dropout rate or in deterministic mode, and a calibrate run stopped by SIGTERM.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, runCli } from '../helpers/cli.js';
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
      /warning: The fitted temperature hit the lower bound 0\.05 of the range searched \[0\.05, 20\]: on these 4 calibration images .*too few or perfectly separated.*calibrate on more labelled images/,
    );
  });

  it('four images all labelled wrong: the fit stops at 20 and the warning points at the true classes (--truth)', async () => {
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
        /cannot be checked against this run: --dropout-rate 0\.3, while the calibration file does not record the rate it was fitted at/,
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
