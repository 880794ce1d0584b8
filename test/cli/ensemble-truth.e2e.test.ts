/**
 * The five-member ensemble end to end against PyTorch (fixtures/ensemble/pytorch_truth.py): its
 * dropout-off answer to the printed digits, and its MC mean within 5 standard errors of the mean of
 * the members' PyTorch MC means, image by image and class by class.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, runCli } from '../helpers/cli.js';
import { jsonRows, PRINTED } from '../helpers/rows.js';
import { MEMBERS } from '../helpers/members.js';

interface Truth {
  passes: number;
  members: string[];
  images: Record<string, { deterministic: number[]; mean: number[]; se: number[]; members: Record<string, { sd: number[] }> }>;
}
const truth = JSON.parse(readFileSync(path.join(ROOT, 'fixtures/ensemble/pytorch-truth.json'), 'utf8')) as Truth;
const members = MEMBERS.flatMap((m) => ['-m', m]);

describe('the five-member ensemble against PyTorch (real binary, fixtures/ensemble/pytorch-truth.json)', () => {
  it('the truth is of the members this test runs', () => {
    assert.deepEqual(truth.members, [...MEMBERS]);
  });

  it('--deterministic: the mean of the members’ eval-mode softmax, image by image, to the printed digits', async () => {
    const { code, stdout, stderr } = await runCli([
      'predict',
      'fixtures/samples',
      ...members,
      '--deterministic',
      '-f',
      'jsonl',
      '--per-class',
      '--device',
      'cpu',
      '-q',
    ]);
    assert.equal(code, 0, stderr);
    const got = jsonRows(stdout);
    assert.equal(got.length, Object.keys(truth.images).length);
    for (const row of got) {
      const expected = truth.images[row.path]!.deterministic;
      row.mean.forEach((p, c) => assert.ok(Math.abs(p - expected[c]!) <= PRINTED, `${row.path} class ${c}: ${p} against PyTorch ${expected[c]}`));
    }
  });

  it('MC at T=400 a member: the ensemble mean lies within 5 standard errors of the mean of the members’ PyTorch MC means', async () => {
    const T = 400;
    const { code, stdout, stderr } = await runCli([
      'predict',
      'fixtures/samples',
      ...members,
      '-t',
      String(T),
      '--seed',
      '3',
      '-f',
      'jsonl',
      '--per-class',
      '--device',
      'cpu',
      '-q',
    ]);
    assert.equal(code, 0, stderr);
    let worst = 0;
    for (const row of jsonRows(stdout)) {
      const image = truth.images[row.path]!;
      row.mean.forEach((p, c) => {
        // ours: M independent means of T passes each, sd_m per member (PyTorch's estimate of the
        // same per-pass spread); PyTorch's own mean has its se at 40,000 passes. 500 |z| of normal
        // errors reach about 3.3; probabilities near 0 or 1 are skewed, hence 5
        const variance = MEMBERS.reduce((sum, m) => sum + image.members[m]!.sd[c]! ** 2, 0) / T / MEMBERS.length ** 2;
        const se = Math.sqrt(variance + image.se[c]! ** 2);
        const z = Math.abs(p - image.mean[c]!) / (se + PRINTED);
        worst = Math.max(worst, z);
        assert.ok(z <= 5, `${row.path} class ${c}: mean ${p} against PyTorch ${image.mean[c]} (${z.toFixed(2)} standard errors)`);
      });
    }
    assert.ok(worst > 0.05, 'the comparison saw no Monte Carlo noise at all');
  });
});
