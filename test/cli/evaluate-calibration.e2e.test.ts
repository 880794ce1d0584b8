/**
 * `evaluate --calibration` and `evaluate --ood` on the bundled model: the coverage, set sizes and
 * calibrated metrics equal what predict --calibration's rows give on the same images (same seed
 * and T, so the same passes), and the OOD metrics equal a Mann-Whitney AUROC and an FPR95 written
 * here over the passes predict --save-passes keeps (float32; no two scores within 1e-6 of each
 * other, so ties do not move).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { readNpy } from '../helpers/npy.js';

const CLASSES = 10;

/** Predictive entropy (nats) of the mean of each image's passes. */
function entropies(file: string): number[] {
  const { shape, data } = readNpy(file);
  const [images, passes] = [shape[0]!, shape[1]!];
  return Array.from({ length: images }, (_, i) => {
    const mean = new Array<number>(CLASSES).fill(0);
    for (let t = 0; t < passes; t++) for (let c = 0; c < CLASSES; c++) mean[c]! += data[(i * passes + t) * CLASSES + c]! / passes;
    return -mean.reduce((h, p) => h + (p > 0 ? p * Math.log(p) : 0), 0);
  });
}

describe('evaluate --calibration and --ood', () => {
  it("coverage, set sizes and calibrated metrics equal predict --calibration's rows; each OOD AUROC a Mann-Whitney count", async () => {
    const folder = tempDir();
    const calibration = path.join(folder, 'calibration.json');
    const common = ['-t', '6', '--device', 'cpu', '-q'];
    assert.equal(
      (await runCli(['calibrate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', ...common, '--seed', '8', '-o', calibration], { cwd: ROOT })).code,
      0,
    );
    const json = path.join(folder, 'eval.json');
    const evaluated = await runCli(
      [
        'evaluate',
        'fixtures/samples',
        '--truth',
        'fixtures/samples.csv',
        ...common,
        '--seed',
        '4',
        '--calibration',
        calibration,
        '--ood',
        'fixtures/ood/images',
        '--json',
        json,
      ],
      { cwd: ROOT },
    );
    assert.equal(evaluated.code, 0, evaluated.stderr);
    const report = JSON.parse(readFileSync(json, 'utf8'));

    // the same images, seed and T through predict --calibration
    const rowsFile = path.join(folder, 'rows.jsonl');
    const idPasses = path.join(folder, 'id.npy');
    const predicted = await runCli(
      [
        'predict',
        'fixtures/samples',
        ...common,
        '--seed',
        '4',
        '--calibration',
        calibration,
        '-f',
        'jsonl',
        '--per-class',
        '-o',
        rowsFile,
        '--save-passes',
        idPasses,
      ],
      { cwd: ROOT },
    );
    assert.equal(predicted.code, 0, predicted.stderr);
    const rows = readFileSync(rowsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const truthRows = parse<{ file: string; class_index: string }>(readFileSync(path.join(ROOT, 'fixtures/samples.csv'), 'utf8'), { columns: true });
    const truth = new Map(truthRows.map((r) => [path.join('fixtures', r.file), Number(r.class_index)]));
    const labelOf = (row: { path: string }) => truth.get(row.path)!;
    const covered = rows.filter((r) => r.set_indices.includes(labelOf(r)));
    const sets = report.calibration.sets;
    assert.equal(sets.images, 50);
    assert.equal(sets.coverage, covered.length / 50);
    assert.equal(sets.mean_size, rows.reduce((a, r) => a + r.set_size, 0) / 50);
    assert.equal(sets.empty, rows.filter((r) => r.set_size === 0).length);
    for (const b of sets.by_size) {
      const mine = rows.filter((r) => r.set_size === b.size);
      assert.equal(b.images, mine.length);
      assert.equal(b.coverage, mine.filter((r) => r.set_indices.includes(labelOf(r))).length / mine.length);
    }
    assert.equal(
      sets.by_size.reduce((a: number, b: { images: number }) => a + b.images, 0),
      50,
    );
    for (const c of sets.by_class) {
      const mine = rows.filter((r) => labelOf(r) === c.class_index);
      assert.equal(c.images, 5);
      assert.equal(c.coverage, mine.filter((r) => r.set_indices.includes(c.class_index)).length / 5);
    }
    // calibrated metrics: accuracy exactly, NLL to the rows' 6 printed decimals
    const metrics = report.calibration.metrics;
    assert.equal(metrics.accuracy, rows.filter((r) => r.class_index === labelOf(r)).length / 50);
    const nll = rows.reduce((a, r) => a - Math.log(Math.max(r.mean[labelOf(r)], 1e-12)), 0) / 50;
    assert.ok(Math.abs(metrics.nll - nll) < 1e-4, `${metrics.nll} vs ${nll}`);
    assert.equal(report.calibration.temperature, JSON.parse(readFileSync(calibration, 'utf8')).temperature);
    // coverage against alpha: at the calibration's own alpha (0.1) the curve is the sets' coverage and mean size
    const atTen = report.calibration.by_alpha.find((p: { alpha: number }) => p.alpha === 0.1);
    assert.deepEqual([atTen.coverage, atTen.mean_size], [sets.coverage, sets.mean_size]);
    assert.equal(report.calibration.by_alpha.length, 30);
    // coverage can only fall as alpha grows (the threshold is an order statistic that falls with it)
    report.calibration.by_alpha.forEach((p: { coverage: number }, k: number, all: { coverage: number }[]) =>
      assert.ok(k === 0 || p.coverage <= all[k - 1]!.coverage),
    );

    // OOD: entropy's AUROC and 1 - max probability's FPR95 over the same passes
    const oodPasses = path.join(folder, 'ood.npy');
    const oodRun = await runCli(['predict', 'fixtures/ood/images', ...common, '--seed', '4', '-o', path.join(folder, 'ood.csv'), '--save-passes', oodPasses], {
      cwd: ROOT,
    });
    assert.equal(oodRun.code, 0, oodRun.stderr);
    const id = entropies(idPasses);
    const ood = entropies(oodPasses);
    assert.equal(report.ood.images, ood.length);
    assert.equal(ood.length, 70);
    const all = [...id, ...ood].sort((a, b) => a - b);
    assert.ok(
      all.every((v, i) => i === 0 || v - all[i - 1]! > 1e-6),
      'no near-ties',
    );
    let wins = 0;
    for (const o of ood) for (const i of id) wins += o > i ? 1 : 0;
    const entropyRow = report.ood.scores.find((s: { score: string }) => s.score === 'entropy');
    assert.ok(Math.abs(entropyRow.mc.auroc - wins / (ood.length * id.length)) < 1e-12, `${entropyRow.mc.auroc} vs ${wins / (ood.length * id.length)}`);
    // FPR95 of entropy, ID positive: the lowest threshold at which 95% of ID images score at or
    // under it (the 48th smallest of 50), and the fraction of OOD images at or under it too
    const threshold = [...id].sort((a, b) => a - b)[Math.ceil(0.95 * id.length) - 1]!;
    assert.ok(Math.abs(entropyRow.mc.fpr95 - ood.filter((o) => o <= threshold).length / ood.length) < 1e-12);
    assert.equal(report.ood.scores.find((s: { score: string }) => s.score === 'mutual_information').deterministic, null);
    // the bundled model ends in logits: the max logit and the energy are scored too, MC and deterministic
    assert.deepEqual(
      report.ood.scores.map((s: { score: string }) => s.score),
      ['one_minus_confidence', 'entropy', 'mutual_information', 'variation_ratio', 'margin', 'max_logit', 'energy'],
    );
    for (const row of report.ood.scores.slice(5)) {
      for (const m of [row.mc, row.deterministic]) for (const v of [m.auroc, m.aupr_in, m.aupr_out, m.fpr95]) assert.ok(v >= 0 && v <= 1, JSON.stringify(row));
    }
    // the logit scores leave the in-distribution numbers as they are (the same runs, raw outputs kept)
    const plain = await runCli(['evaluate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', ...common, '--seed', '4', '--json', '-'], { cwd: ROOT });
    assert.deepEqual(JSON.parse(plain.stdout).numbers, report.numbers);
    // the figures: the five of every evaluation, then reliability before and after calibration, set
    // sizes, and the OOD ROC curves and score histograms; report --from the JSON draws the same
    const plots = path.join(folder, 'plots');
    const drawn = await runCli(
      [
        'evaluate',
        'fixtures/samples',
        '--truth',
        'fixtures/samples.csv',
        ...common,
        '--seed',
        '4',
        '--calibration',
        calibration,
        '--ood',
        'fixtures/ood/images',
        '--plots',
        plots,
      ],
      { cwd: ROOT },
    );
    assert.equal(drawn.code, 0, drawn.stderr);
    const { readdirSync } = await import('node:fs');
    const names = readdirSync(plots)
      .filter((f) => f.endsWith('.svg'))
      .sort();
    assert.deepEqual(names, [
      'calibrated-reliability.svg',
      'confusion.svg',
      'coverage.svg',
      'metrics-vs-t.svg',
      'ood-roc.svg',
      'ood-scores.svg',
      'reliability.svg',
      'risk-coverage.svg',
      'set-sizes.svg',
      'uncertainty.svg',
    ]);
    assert.match(readFileSync(path.join(plots, 'set-sizes.svg'), 'utf8'), /Prediction-set sizes/);
    assert.match(readFileSync(path.join(plots, 'ood-roc.svg'), 'utf8'), /energy \(AUROC 0\.\d{3}\)/);
    const html = path.join(folder, 'report.html');
    const page = await runCli(['report', '--from', json, '-o', html, '-q'], { cwd: ROOT });
    assert.equal(page.code, 0, page.stderr);
    assert.equal((readFileSync(html, 'utf8').match(/<figure>/g) ?? []).length, 10);
    // the text shows both sections
    const text = await runCli(
      [
        'evaluate',
        'fixtures/samples',
        '--truth',
        'fixtures/samples.csv',
        ...common,
        '--seed',
        '4',
        '--calibration',
        calibration,
        '--ood',
        'fixtures/ood/images',
      ],
      {
        cwd: ROOT,
      },
    );
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /\nPrediction sets: coverage \d+\.\d\d% \(guaranteed at least 90\.00% on images exchangeable with the calibration set\), mean size/,
    );
    assert.match(text.stdout, /\nOut of distribution: 70 images; OOD is positive/);
  });

  it('refuses a calibration made for another model (exit 2) and an OOD path with no image', async () => {
    const folder = tempDir();
    const calibration = path.join(folder, 'calibration.json');
    assert.equal(
      (await runCli(['calibrate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', '-t', '2', '--seed', '1', '-q', '-o', calibration], { cwd: ROOT }))
        .code,
      0,
    );
    const labels = path.join(folder, 'labels.txt');
    writeFileSync(labels, `${JSON.parse(readFileSync(calibration, 'utf8')).model.labels.join('\n')}\n`);
    const other = await runCli(
      [
        'evaluate',
        'fixtures/samples',
        '--truth',
        'fixtures/samples.csv',
        '-t',
        '2',
        '-q',
        '-m',
        'fixtures/models/mobilenet_v2_025.onnx',
        '--labels',
        labels,
        '--calibration',
        calibration,
      ],
      {
        cwd: ROOT,
      },
    );
    assert.equal(other.code, 2);
    assert.match(other.stderr, /was made for another model/);
    const empty = await runCli(['evaluate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', '-t', '2', '-q', '--ood', folder], { cwd: ROOT });
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /No out-of-distribution images in /);
  });
});
