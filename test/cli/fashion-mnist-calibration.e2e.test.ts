/**
 * Calibration and prediction sets on the 10,000 Fashion-MNIST test images (Debian's
 * dataset-fashion-mnist; CI installs it): the split-conformal guarantee measured over 200 random
 * calibration/test splits, and the numbers docs/calibration.md shows, rerun from its commands.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { fitTemperature, logProbabilities, temperedPasses } from '../../src/calibration/temperature.js';
import { conformalQuantile, conformalUniformOf, conformityScore, type ConformalScore } from '../../src/conformal/sets.js';
import { imagePasses, readNpyPasses } from '../../src/io/npy.js';
import { summarize } from '../../src/stats/aggregate.js';
import { mulberry32 } from '../../src/stats/random.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { exportHalves, fashionMnistMissing } from '../helpers/fashion-mnist.js';
import { tempDir } from '../helpers/files.js';
import { skipUnless } from '../helpers/require.js';

const skip = skipUnless('fashion-mnist', fashionMnistMissing());
const CLASSES = 10;
const FOLDERS = ['t-shirt-top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];
const OOD = path.join(ROOT, 'fixtures/ood/images');

describe('Fashion-MNIST: coverage over random splits, and the numbers docs/calibration.md shows', { skip }, () => {
  let root = '';
  const cli = async (args: string[]) => {
    const run = await runCli([...args, '--device', 'cpu'], { cwd: root });
    assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
    return run;
  };

  before(async () => {
    if (skip) return;
    root = tempDir('mc-dropout-fashion-mnist-');
    assert.deepEqual(await exportHalves(root), { cal: 5000, test: 5000 });
    // the docs' first two commands: every pass of each half
    await cli(['predict', 'cal', '-t', '10', '--seed', '1', '-q', '-o', 'cal.csv', '--save-passes', 'cal.npy']);
    await cli(['predict', 'test', '-t', '10', '--seed', '2', '-q', '-o', 'test.csv', '--save-passes', 'test.npy']);
  });

  it('200 random 5,000/5,000 splits of the 10,000: mean coverage at alpha 0.1 is the l/(n+1) split conformal gives, its spread the negative-hypergeometric sd; per class too (Mondrian)', () => {
    const images = ['cal.npy', 'test.npy'].flatMap((file) => {
      const saved = readNpyPasses(path.join(root, file));
      return imagePasses(saved).map((passes, i) => ({ name: saved.paths[i]!, passes, label: FOLDERS.indexOf(saved.paths[i]!.split('/')[1]!) }));
    });
    assert.equal(images.length, 10_000);
    assert.ok(images.every((i) => i.label >= 0 && i.passes.length === 10 * CLASSES));
    // the score function is fixed before any split: a temperature fitted on all 10,000 is a
    // symmetric function of them, so the images stay exchangeable
    const logits = images.map((i) => logProbabilities(i.passes));
    const { temperature } = fitTemperature(
      logits.map((l, k) => ({ logits: l, label: images[k]!.label })),
      CLASSES,
    );
    const means = logits.map((l) => summarize(temperedPasses(l, CLASSES, temperature), CLASSES).mean);
    const alpha = 0.1;
    const [n, m] = [5000, 5000];
    const l = Math.ceil((n + 1) * (1 - alpha)); // 4501
    const expected = l / (n + 1);
    // test images below the l-th calibration score, out of m: negative hypergeometric
    const sd = Math.sqrt((l * m * (n + 1 - l) * (n + m + 1)) / ((n + 1) ** 2 * (n + 2))) / m;
    const random = mulberry32(2026);
    const splits = Array.from({ length: 200 }, () => {
      const order = images.map((_, k) => k);
      for (let k = order.length - 1; k > 0; k--) {
        const j = Math.floor(random() * (k + 1));
        [order[k], order[j]] = [order[j]!, order[k]!];
      }
      return { cal: order.slice(0, n), test: order.slice(n) };
    });
    const lines: string[] = [];
    for (const score of ['lac', 'aps', 'raps'] as ConformalScore[]) {
      const scores = images.map((image, k) => conformityScore(means[k]!, image.label, conformalUniformOf(7, image.name), { score }));
      const coverage = splits.map(({ cal, test }) => {
        const q = conformalQuantile(
          cal.map((k) => scores[k]!),
          alpha,
        );
        return test.filter((k) => scores[k]! <= q).length / m;
      });
      const mean = coverage.reduce((a, b) => a + b, 0) / coverage.length;
      const spread = Math.sqrt(coverage.reduce((a, c) => a + (c - mean) ** 2, 0) / (coverage.length - 1));
      lines.push(`${score}: mean ${mean.toFixed(5)} (expected ${expected.toFixed(5)}), sd ${spread.toFixed(5)} (expected ${sd.toFixed(5)})`);
      // 4 standard errors of the mean of 200 splits; the sd of 200 draws within 25% (5 of its standard errors)
      assert.ok(Math.abs(mean - expected) < (4 * sd) / Math.sqrt(200), lines.at(-1));
      assert.ok(Math.abs(spread / sd - 1) < 0.25, lines.at(-1));
      // Mondrian: each class's own threshold from its calibration images covers that class at 1 - alpha on average
      const perClass = Array.from({ length: CLASSES }, () => [] as number[]);
      for (const { cal, test } of splits.slice(0, 100)) {
        for (let c = 0; c < CLASSES; c++) {
          const q = conformalQuantile(
            cal.filter((k) => images[k]!.label === c).map((k) => scores[k]!),
            alpha,
          );
          const mine = test.filter((k) => images[k]!.label === c);
          perClass[c]!.push(mine.filter((k) => scores[k]! <= q).length / mine.length);
        }
      }
      perClass.forEach((values, c) => {
        const classMean = values.reduce((a, b) => a + b, 0) / values.length;
        // about 500 calibration and 500 test images a class: sd about 0.019 a split, 0.0019 over 100
        assert.ok(classMean > 1 - alpha - 4 * 0.0019, `${score} class ${c}: ${classMean}`);
      });
    }
    console.log(`# ${lines.join('; ')}`);
  });

  it('docs/calibration.md shows what its commands print', async () => {
    const rows: string[] = [];
    const readmeFigures: string[] = [];
    let temperatureLine = '';
    for (const score of ['lac', 'aps', 'raps']) {
      for (const alpha of ['0.1', '0.05']) {
        const file = `${score}-${alpha}.json`;
        await cli(['calibrate', '--from', 'cal.npy', '--score', score, '--miscoverage', alpha, '-q', '-o', file]);
        const run = await cli(['evaluate', '--from', 'test.npy', '--calibration', file, '--json', '-']);
        const report = JSON.parse(run.stdout);
        const sets = report.calibration.sets;
        rows.push(`| ${score.toUpperCase()} | ${alpha} | ${(100 * sets.coverage).toFixed(2)}% | ${sets.mean_size.toFixed(3)} | ${sets.empty} |`);
        if (score === 'aps' && alpha === '0.1') {
          readmeFigures.push(
            `held-out ECE from ${report.numbers.mc.calibration.ece.toFixed(4)} to ${report.calibration.metrics.calibration.ece.toFixed(4)}`,
            `APS sets at α = 0.1 cover ${(100 * sets.coverage).toFixed(2)}% of the held-out images with ${sets.mean_size.toFixed(3)} labels on average`,
          );
          const c = JSON.parse(readFileSync(path.join(root, file), 'utf8'));
          temperatureLine =
            `Temperature ${c.temperature.toFixed(4)}: on the calibration half NLL ${c.before.nll.toFixed(4)} → ${c.after.nll.toFixed(4)}, ECE ${c.before.ece.toFixed(4)} → ${c.after.ece.toFixed(4)}; ` +
            `on the held-out half NLL ${report.numbers.mc.nll.toFixed(4)} → ${report.calibration.metrics.nll.toFixed(4)}, ECE ${report.numbers.mc.calibration.ece.toFixed(4)} → ${report.calibration.metrics.calibration.ece.toFixed(4)}.`;
        }
      }
    }
    const ood = JSON.parse((await cli(['evaluate', 'test', '-t', '10', '--seed', '2', '-q', '--ood', OOD, '--json', '-'])).stdout).ood;
    const f = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(4));
    const aurocOf = (score: string) => f(ood.scores.find((s: { score: string }) => s.score === score).mc.auroc);
    readmeFigures.push(`images with AUROC ${aurocOf('entropy')} (the energy of the logits: ${aurocOf('energy')})`);
    const oodRows = ood.scores.map(
      (s: { score: string; mc: { auroc: number; aupr_in: number; aupr_out: number; fpr95: number }; deterministic: { auroc: number; fpr95: number } | null }) =>
        `| ${s.score} | ${f(s.mc.auroc)} | ${f(s.mc.aupr_in)} | ${f(s.mc.aupr_out)} | ${f(s.mc.fpr95)} | ${f(s.deterministic?.auroc)} | ${f(s.deterministic?.fpr95)} |`,
    );
    const block = [
      temperatureLine,
      '',
      '| score | alpha | coverage | mean set size | empty sets |',
      '|---|---|---|---|---|',
      ...rows,
      '',
      `Out of distribution: the 5,000 held-out images against the ${ood.images} images of \`fixtures/ood/images\` (OOD positive):`,
      '',
      '| score | AUROC | AUPR-In | AUPR-Out | FPR95 | AUROC, deterministic | FPR95, deterministic |',
      '|---|---|---|---|---|---|---|',
      ...oodRows,
    ].join('\n');
    // the README's summary of the same run
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
    for (const text of readmeFigures) assert.ok(readme.includes(text), `README.md should say: ${text}`);
    const docs = readFileSync(path.join(ROOT, 'docs/calibration.md'), 'utf8');
    const shown = /<!-- fashion-mnist:start -->\n([\s\S]*?)\n<!-- fashion-mnist:end -->/.exec(docs)?.[1];
    assert.equal(shown, block, `docs/calibration.md should hold:\n${block}`);
  });
});
