/**
 * `calibrate` and `predict --calibration` on the bundled model and the 50 samples, checked against
 * maths written here from the papers (not the library's code): the fitted temperature minimizes the
 * NLL of the tempered MC means, the threshold is the ceil((n+1)(1-alpha))-th smallest APS score, and
 * predict's calibrated confidences and sets follow from them. The passes come from predict
 * --save-passes with the same T and seed: masks are keyed by (seed, image, pass, site), so they
 * are the calibration run's own passes, stored as float32: each probability within a relative 2^-24
 * (6e-8) of the float64 the run used, so NLLs and scores agree to 1e-6 here, not to the last bit.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { keysNotSnakeCase } from '../helpers/json-keys.js';
import { readNpy } from '../helpers/npy.js';

const CLASSES = 10;

/** mean over passes of softmax(log p / tau), p floored at 1e-12 (Guo et al. 2017 on each pass, then the MC mean). */
function tempered(passes: ArrayLike<number>, tau: number): number[] {
  const T = passes.length / CLASSES;
  const mean = new Array<number>(CLASSES).fill(0);
  for (let t = 0; t < T; t++) {
    const z = Array.from({ length: CLASSES }, (_, c) => Math.log(Math.max(passes[t * CLASSES + c]!, 1e-12)) / tau);
    const max = Math.max(...z);
    const e = z.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    e.forEach((v, c) => (mean[c]! += v / sum / T));
  }
  return mean;
}

/** APS without randomization (Romano et al. 2020, u = 1): the mass of the labels ranked above y, plus p_y. */
function apsScore(p: readonly number[], y: number): number {
  const ranking = p.map((_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
  let above = 0;
  for (const label of ranking) {
    if (label === y) return above + p[y]!;
    above += p[label]!;
  }
  throw new Error('unreachable');
}

async function passesOf(folder: string, seed: string): Promise<{ paths: string[]; passes: Float32Array[] }> {
  const npy = path.join(folder, `passes-${seed}.npy`);
  const run = await runCli(
    ['predict', 'fixtures/samples', '-t', '8', '--seed', seed, '--device', 'cpu', '-q', '-o', path.join(folder, `run-${seed}.csv`), '--save-passes', npy],
    {
      cwd: ROOT,
    },
  );
  assert.equal(run.code, 0, run.stderr);
  const { shape, data } = readNpy(npy);
  const paths = JSON.parse(readFileSync(`${npy}.paths.json`, 'utf8')) as string[];
  const perImage = shape[1]! * shape[2]!;
  return { paths, passes: paths.map((_, i) => data.subarray(i * perImage, (i + 1) * perImage)) };
}

describe('calibrate and predict --calibration', () => {
  it('calibrate: the temperature minimizes the NLL, the threshold is the 46th of 50 APS scores; predict applies both to every row', async () => {
    const folder = tempDir();
    const file = path.join(folder, 'calibration.json');
    const cal = await runCli(
      ['calibrate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', '-t', '8', '--seed', '3', '--no-randomized', '--device', 'cpu', '-o', file],
      { cwd: ROOT },
    );
    assert.equal(cal.code, 0, cal.stderr);
    const c = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(c.format, 'mc-dropout calibration 2');
    assert.deepEqual([c.passes, c.seed, c.images, c.conformal.alpha, c.conformal.score, c.conformal.randomized], [8, 3, 50, 0.1, 'aps', false]);
    const inspect = await runCli(['inspect', 'models/fashion-mnist-mc.onnx', '--json'], { cwd: ROOT });
    assert.equal(c.model.sha256, JSON.parse(inspect.stdout).sha256);
    assert.match(
      cal.stderr,
      /calibrated on 50 images \(T=8, seed 3\)\n {2}temperature \d\.\d{4}: NLL \d\.\d{4} -> \d\.\d{4}, ECE \d\.\d{4} -> \d\.\d{4}\n {2}APS sets at alpha 0\.1: threshold/,
    );

    const truthRows = parse<{ file: string; class_index: string }>(readFileSync(path.join(ROOT, 'fixtures/samples.csv'), 'utf8'), { columns: true });
    const truth = new Map(truthRows.map((r) => [path.join('fixtures', r.file), Number(r.class_index)]));
    const { paths, passes } = await passesOf(folder, '3');
    const labels = paths.map((p) => truth.get(p)!);
    assert.equal(labels.filter((l) => l !== undefined).length, 50);
    const nll = (tau: number) => passes.reduce((sum, p, i) => sum - Math.log(Math.max(tempered(p, tau)[labels[i]!]!, 1e-12)), 0) / passes.length;
    // the recorded NLLs are this NLL at 1 and at the fitted temperature (1e-6: the float32 passes)
    assert.ok(Math.abs(c.before.nll - nll(1)) < 1e-6, `${c.before.nll} vs ${nll(1)}`);
    assert.ok(Math.abs(c.after.nll - nll(c.temperature)) < 1e-6, `${c.after.nll} vs ${nll(c.temperature)}`);
    // a minimum: 1% either way is no better (the NLL is smooth and unimodal in log tau)
    assert.ok(nll(c.temperature) <= nll(c.temperature * 1.01) && nll(c.temperature) <= nll(c.temperature / 1.01));
    assert.ok(c.after.nll < c.before.nll);

    // the finite-sample quantile: ceil((50 + 1) * 0.9) = 46th smallest score, to 1e-6 (float32 passes),
    // and no other score so close to it that the rank could change
    const scores = passes.map((p, i) => apsScore(tempered(p, c.temperature), labels[i]!)).sort((a, b) => a - b);
    assert.ok(Math.abs(c.conformal.threshold - scores[45]!) < 1e-6, `${c.conformal.threshold} vs ${scores[45]}`);
    assert.ok(scores[44]! < c.conformal.threshold - 1e-6 && scores[46]! > c.conformal.threshold + 1e-6);

    // predict with another seed: each row's confidence, uncalibrated confidence and set
    const other = await passesOf(folder, '5');
    const run = await runCli(
      ['predict', 'fixtures/samples', '-t', '8', '--seed', '5', '--device', 'cpu', '-q', '--calibration', file, '-o', path.join(folder, 'cal.csv')],
      {
        cwd: ROOT,
      },
    );
    assert.equal(run.code, 0, run.stderr);
    const rows = parse<Record<string, string>>(readFileSync(path.join(folder, 'cal.csv'), 'utf8'), { columns: true });
    assert.equal(rows.length, 50);
    let checked = 0;
    rows.forEach((row, i) => {
      assert.equal(row.path, other.paths[i]);
      const p = tempered(other.passes[i]!, c.temperature);
      const raw = tempered(other.passes[i]!, 1);
      // printed to 6 decimals (5e-7), plus the float32 passes
      assert.ok(Math.abs(Number(row.confidence) - Math.max(...p)) <= 1e-6, `${row.path}: ${row.confidence} vs ${Math.max(...p)}`);
      assert.ok(Math.abs(Number(row.uncalibrated_confidence) - Math.max(...raw)) <= 1e-6);
      const labelScores = p.map((_, y) => apsScore(p, y));
      // the float32 passes move a score (a sum of at most 10 tempered means) by well under 1e-6, so a
      // score further than that from the threshold falls on the same side as in the run: all do here
      assert.ok(labelScores.every((s) => Math.abs(s - c.conformal.threshold) > 1e-6));
      const expected = labelScores
        .map((s, y) => [s, y] as const)
        .filter(([s]) => s <= c.conformal.threshold)
        .sort((a, b) => a[0] - b[0])
        .map(([, y]) => c.model.labels[y]);
      assert.deepEqual(JSON.parse(row.set!), expected, row.path);
      assert.equal(Number(row.set_size), expected.length);
      checked++;
    });
    assert.equal(checked, 50);
  });

  it('refuses a calibration made for another model or other preprocessing, saying which differs (exit 2)', async () => {
    const folder = tempDir();
    const file = path.join(folder, 'calibration.json');
    assert.equal(
      (await runCli(['calibrate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', '-t', '2', '--seed', '1', '-q', '-o', file], { cwd: ROOT })).code,
      0,
    );
    const model = await runCli(
      ['predict', 'fixtures/samples/bag-18.png', '-t', '2', '-m', 'fixtures/models/mobilenet_v2_025.onnx', '--calibration', file, '-q'],
      { cwd: ROOT },
    );
    assert.equal(model.code, 2);
    assert.match(
      model.stderr,
      /error: The calibration .*calibration\.json was made for another model \(SHA-256 [0-9a-f]{12}\.\.\.\), not fixtures\/models\/mobilenet_v2_025\.onnx/,
    );
    assert.match(model.stderr, /or give --calibration a file made for them/);
    const resize = await runCli(['predict', 'fixtures/samples/bag-18.png', '-t', '2', '--resize', 'pad', '--calibration', file, '-q'], { cwd: ROOT });
    assert.equal(resize.code, 2);
    assert.match(resize.stderr, /was made with other preprocessing \(resize: calibrated "stretch", now "pad"\)/);
    assert.equal(resize.stdout, '', 'no rows are written');
    const notOne = await runCli(['predict', 'fixtures/samples/bag-18.png', '-t', '2', '--calibration', path.join(ROOT, 'package.json'), '-q'], { cwd: ROOT });
    assert.equal(notOne.code, 2);
    assert.match(notOne.stderr, /package\.json is not a calibration this version reads/);
  });

  it('JSONL carries the set as a list of labels and of class indices; the run metadata records the calibration', async () => {
    const folder = tempDir();
    const file = path.join(folder, 'calibration.json');
    const cal = await runCli(
      [
        'calibrate',
        'fixtures/samples',
        '--truth',
        'fixtures/samples.csv',
        '-t',
        '4',
        '--seed',
        '2',
        '--score',
        'raps',
        '--lambda',
        '0.05',
        '--k-reg',
        '2',
        '--class-conditional',
        '-q',
        '-o',
        file,
      ],
      { cwd: ROOT },
    );
    assert.equal(cal.code, 0, cal.stderr);
    const c = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(keysNotSnakeCase(c), []);
    assert.deepEqual(
      [c.conformal.score, c.conformal.lambda, c.conformal.k_reg, c.conformal.randomized, c.conformal.class_conditional, c.conformal.seed],
      ['raps', 0.05, 2, true, true, 2],
    );
    // 5 images a class: ceil(6 * 0.9) = 6 > 5, so no class has a finite threshold: every set is every label
    assert.deepEqual(c.conformal.counts, new Array(10).fill(5));
    assert.deepEqual(c.conformal.per_class, new Array(10).fill('Infinity'));
    const out = path.join(folder, 'out.jsonl');
    const run = await runCli(
      ['predict', 'fixtures/samples/bag-18.png', 'fixtures/samples/coat-10.png', '-t', '4', '-f', 'jsonl', '--calibration', file, '-q', '-o', out],
      { cwd: ROOT },
    );
    assert.equal(run.code, 0, run.stderr);
    const rows = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    for (const row of rows) {
      assert.equal(row.set_size, 10);
      assert.deepEqual(
        [...row.set_indices].sort((a: number, b: number) => a - b),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
      assert.deepEqual(
        row.set,
        row.set_indices.map((k: number) => c.model.labels[k]),
      );
      assert.equal(typeof row.uncalibrated_confidence, 'number');
    }
    const meta = JSON.parse(readFileSync(`${out}.meta.json`, 'utf8'));
    assert.match(meta.settings.calibration_sha256, /^[0-9a-f]{64}$/);
  });
  it("calibrate --from an earlier run's passes fits what calibrate on the images fits (to the float32 passes); evaluate --from checks it", async () => {
    const folder = tempDir();
    const npy = path.join(folder, 'passes.npy');
    const run = await runCli(['predict', 'fixtures/samples', '-t', '6', '--seed', '9', '-q', '-o', path.join(folder, 'run.csv'), '--save-passes', npy], {
      cwd: ROOT,
    });
    assert.equal(run.code, 0, run.stderr);
    const recorded = JSON.parse(readFileSync(`${npy}.run.json`, 'utf8'));
    assert.deepEqual([recorded.classes, recorded.passes, recorded.seed, recorded.labels.length], [10, 6, 9, 10]);
    const fromFile = path.join(folder, 'from.json');
    const direct = path.join(folder, 'direct.json');
    assert.equal((await runCli(['calibrate', '--from', npy, '--truth', 'fixtures/samples.csv', '-q', '-o', fromFile], { cwd: ROOT })).code, 0);
    assert.equal(
      (await runCli(['calibrate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', '-t', '6', '--seed', '9', '-q', '-o', direct], { cwd: ROOT })).code,
      0,
    );
    const [a, b] = [JSON.parse(readFileSync(fromFile, 'utf8')), JSON.parse(readFileSync(direct, 'utf8'))];
    assert.deepEqual([a.model, a.preprocess, a.passes, a.seed, a.images], [b.model, b.preprocess, b.passes, b.seed, b.images]);
    // float32 passes (a relative 6e-8 each) against the run's float64: the fits agree to 1e-6
    assert.ok(Math.abs(a.temperature - b.temperature) < 1e-6 * b.temperature, `${a.temperature} vs ${b.temperature}`);
    assert.ok(Math.abs(a.conformal.threshold - b.conformal.threshold) < 1e-6);
    // evaluate --from the same passes with the calibration: every labeled image's set is counted
    const evaluated = await runCli(['evaluate', '--from', npy, '--truth', 'fixtures/samples.csv', '--calibration', fromFile, '--json', '-'], { cwd: ROOT });
    assert.equal(evaluated.code, 0, evaluated.stderr);
    const report = JSON.parse(evaluated.stdout);
    assert.equal(report.calibration.sets.images, 50);
    // calibrated and evaluated on the same 50 images: at least ceil(51 * 0.9) = 46 are covered
    assert.ok(report.calibration.sets.coverage >= 46 / 50, String(report.calibration.sets.coverage));
    // without the .run.json the model is unknown: refused
    const { rmSync } = await import('node:fs');
    rmSync(`${npy}.run.json`);
    const refused = await runCli(['calibrate', '--from', npy, '--truth', 'fixtures/samples.csv', '-q', '-o', path.join(folder, 'x.json')], { cwd: ROOT });
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /has no .*passes\.npy\.run\.json, so the model and preprocessing its passes came from are unknown: rerun predict with --save-passes/,
    );
  });
});
