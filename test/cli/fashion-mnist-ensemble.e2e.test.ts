/**
 * The ensemble's table on the 10,000 Fashion-MNIST test images (Debian's dataset-fashion-mnist; CI
 * installs it): docs/ensembles.md shows it, and this reruns its command and compares.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { ROOT, runCli } from '../helpers/cli.js';
import { exportHalves, fashionMnistMissing } from '../helpers/fashion-mnist.js';
import { tempDir } from '../helpers/files.js';
import { MEMBERS } from '../helpers/members.js';
import { skipUnless } from '../helpers/require.js';

const skip = skipUnless('fashion-mnist', fashionMnistMissing());

/** The rows of the table between the markers of docs/ensembles.md: method, then its numbers. */
function docTable(): Map<string, number[]> {
  const page = readFileSync(path.join(ROOT, 'docs/ensembles.md'), 'utf8');
  const table = /<!-- fashion-mnist-table -->\n([\s\S]*?)<!-- \/fashion-mnist-table -->/.exec(page);
  assert.ok(table, 'docs/ensembles.md has no marked Fashion-MNIST table');
  const rows = table[1]!
    .trim()
    .split('\n')
    .slice(2)
    .map((line) =>
      line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
  return new Map(rows.map(([method, ...cells]) => [method!, cells.map((c) => Number(c.replace('%', '')))]));
}

describe('Fashion-MNIST: the five members, MC dropout and the flip view, as docs/ensembles.md shows them', { skip }, () => {
  let report: { numbers: { methods: { name: string; metrics: Record<string, any> }[] }; counts: { labeled: number } } | undefined;

  before(async () => {
    if (skip) return;
    const root = tempDir('mc-dropout-fashion-mnist-ensemble-');
    assert.deepEqual(await exportHalves(root), { cal: 5000, test: 5000 });
    // the docs' command, run from the repository root on the exported images
    const members = MEMBERS.flatMap((m) => ['-m', m]);
    const json = path.join(root, 'ensemble.json');
    const run = await runCli([
      'evaluate',
      path.join(root, 'cal'),
      path.join(root, 'test'),
      ...members,
      '-t',
      '10',
      '--tta',
      'flip',
      '--seed',
      '1',
      '--device',
      'cpu',
      '-q',
      '--json',
      json,
    ]);
    assert.equal(run.code, 0, run.stderr);
    report = JSON.parse(readFileSync(json, 'utf8')) as typeof report;
  });

  it("every row of the docs' table is the run's, within what another CPU's float rounding moves", () => {
    const docs = docTable();
    const methods = report!.numbers.methods;
    assert.equal(report!.counts.labeled, 10_000);
    assert.deepEqual(
      [...docs.keys()],
      methods.map((m) => m.name),
    );
    for (const method of methods) {
      const m = method.metrics;
      const measured = [100 * m.accuracy, m.nll, m.brier, m.calibration.ece, m.risk_coverage.aurc, m.auroc.entropy, m.auroc.mutual_information];
      const shown = docs.get(method.name)!;
      // onnxruntime picks its kernels by CPU: a probability moves in its 6th-7th digit, which flips
      // a handful of the 10,000 predictions at most (0.05 points) and the other figures in their 4th decimal
      const tolerance = [0.05, 0.002, 0.002, 0.002, 0.002, 0.002, 0.002];
      measured.forEach((value, i) => {
        if (Number.isNaN(shown[i]!)) return assert.ok(i === 6, `${method.name}: column ${i} is not a number in the docs`);
        assert.ok(Math.abs(value - shown[i]!) <= tolerance[i]!, `${method.name} column ${i}: docs ${shown[i]}, run ${value}`);
      });
    }
  });
});
