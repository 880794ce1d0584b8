import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

describe('mc-dropout select', () => {
  it('reads CSV and JSONL predict outputs alike; lines, NUL and CSV formats; error rows left out', async () => {
    const folder = tempDir();
    for (const format of ['csv', 'jsonl']) {
      const predicted = await runCli([
        'predict',
        'fixtures/samples',
        'fixtures/bad/text.png',
        '-t',
        '10',
        '--seed',
        '2',
        '--device',
        'cpu',
        '-q',
        '-f',
        format,
        '-o',
        path.join(folder, `run.${format}`),
      ]);
      assert.equal(predicted.code, 1);
    }
    const csvRows = parse<Record<string, string>>(readFileSync(path.join(folder, 'run.csv'), 'utf8'), { columns: true });
    const expected = csvRows
      .filter((r) => r.status === 'ok')
      .map((r, i) => ({ path: r.path!, mi: Number(r.mutual_information), i }))
      .sort((a, b) => b.mi - a.mi || a.i - b.i)
      .slice(0, 5)
      .map((r) => r.path);
    // the same run's passes give the same ranking (mutual information from float32 passes, not rounded to 6 decimals)
    const saved = await runCli([
      'predict',
      'fixtures/samples',
      'fixtures/bad/text.png',
      '-t',
      '10',
      '--seed',
      '2',
      '--device',
      'cpu',
      '-q',
      '-o',
      path.join(folder, 'again.csv'),
      '--save-passes',
      path.join(folder, 'run.npy'),
    ]);
    assert.equal(saved.code, 1);
    for (const file of ['run.csv', 'run.jsonl', 'run.npy']) {
      const lines = await runCli(['select', path.join(folder, file), '-n', '5']);
      assert.equal(lines.code, 0, lines.stderr);
      assert.deepEqual(lines.stdout.trimEnd().split('\n'), expected);
      assert.match(lines.stderr, /selected 5 of 50 images by mutual_information \(1 error rows left out\)/);
    }
    const nul = await runCli(['select', path.join(folder, 'run.csv'), '-n', '5', '-f', 'nul']);
    assert.deepEqual(nul.stdout.split('\0').slice(0, -1), expected);
    const table = parse<Record<string, string>>(
      (await runCli(['select', path.join(folder, 'run.csv'), '-n', '2', '--by', 'least-confidence', '-f', 'csv'])).stdout,
      {
        columns: true,
      },
    );
    assert.deepEqual(Object.keys(table[0]!), ['rank', 'path', 'label', 'least-confidence']);
    assert.ok(Number(table[0]!['least-confidence']) >= Number(table[1]!['least-confidence']));
    // the earlier names are aliases: the same picks and scores, the column named as typed
    const aliases = { bald: 'mutual_information', 'least-confidence': 'one_minus_confidence', 'variation-ratio': 'variation_ratio' };
    for (const [alias, name] of Object.entries(aliases)) {
      const [old, now] = await Promise.all([alias, name].map((by) => runCli(['select', path.join(folder, 'run.csv'), '-n', '5', '--by', by, '-f', 'csv'])));
      assert.equal(old!.code, 0, old!.stderr);
      assert.equal(old!.stdout.replace(`,${alias}\n`, `,${name}\n`), now!.stdout, alias);
      assert.equal(old!.stderr.replace(` by ${alias}`, ` by ${name}`), now!.stderr, alias);
    }
  });

  it('a file that is not a predict output is a usage error naming it', async () => {
    const file = path.join(tempDir(), 'notes.csv');
    writeFileSync(file, 'a,b\n1,2\n');
    const { code, stderr } = await runCli(['select', file]);
    assert.equal(code, 2);
    assert.match(stderr, /notes\.csv is not a predict output: it has no path, status, confidence/);
  });

  it("--by batchbald from a passes file: the first pick is BALD's, then a jointly informative batch; refuses a CSV and a quota", async () => {
    const folder = tempDir();
    const npy = path.join(folder, 'run.npy');
    const saved = await runCli([
      'predict',
      'fixtures/samples',
      '-t',
      '10',
      '--seed',
      '4',
      '--device',
      'cpu',
      '-q',
      '-o',
      path.join(folder, 'run.csv'),
      '--save-passes',
      npy,
    ]);
    assert.equal(saved.code, 0, saved.stderr);
    const batch = await runCli(['select', npy, '--by', 'batchbald', '-n', '6', '-f', 'csv']);
    assert.equal(batch.code, 0, batch.stderr);
    const picks = parse<Record<string, string>>(batch.stdout, { columns: true });
    assert.equal(picks.length, 6);
    assert.equal(new Set(picks.map((p) => p.path)).size, 6);
    const bald = await runCli(['select', npy, '--by', 'bald', '-n', '1']);
    assert.equal(picks[0]!.path, bald.stdout.trim());
    // a(A) is submodular, so the exact gains fall: 10 classes keep the first 4 picks exact (up to
    // 10^3 joint assignments); later ones are sampled estimates, positive here
    const gains = picks.map((p) => Number(p.batchbald));
    assert.ok(
      gains.slice(0, 4).every((g, i) => i === 0 || g <= gains[i - 1]! + 1e-6),
      `${gains}`,
    );
    assert.ok(
      gains.every((g) => g > 0),
      `${gains}`,
    );
    assert.match(batch.stderr, /selected 6 of 50 images by batchbald/);
    const csv = await runCli(['select', path.join(folder, 'run.csv'), '--by', 'batchbald']);
    assert.equal(csv.code, 2);
    assert.match(csv.stderr, /BatchBALD needs every pass of every image: give the \.npy that predict --save-passes wrote/);
    const quota = await runCli(['select', npy, '--by', 'batchbald', '--per-class-quota']);
    assert.equal(quota.code, 2);
    assert.match(quota.stderr, /--per-class-quota does not apply to batchbald/);
  });
});
