/**
 * Test-time augmentation through the real binary: --tta views averaged with every model's passes,
 * the part of the uncertainty between views, and the refusals. The views' pixels themselves are
 * checked against torchvision in test/preprocess/views.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { MEMBERS } from '../helpers/members.js';

const SAMPLES = path.join(ROOT, 'fixtures/samples');
const common = ['-t', '4', '--seed', '5', '--device', 'cpu', '-q'];
type Row = Record<string, string>;
const readCsv = (text: string): Row[] => parse<Row>(text, { columns: true });
const jsonRows = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { path: string; mean: number[] });

describe('test-time augmentation (--tta)', () => {
  it('--tta flip with dropout off: each image is the mean of the model on it and on its mirror image', async () => {
    // 32x32 images: the bundled model's own size, so the resize is the identity and the mirror of
    // the file is exactly the flipped view (torchvision's hflip after the resize)
    const folder = tempDir();
    const [plain, mirrored] = ['plain', 'mirrored'].map((d) => path.join(folder, d));
    mkdirSync(plain!);
    mkdirSync(mirrored!);
    const names = readdirSync(SAMPLES)
      .filter((f) => f.endsWith('.png'))
      .slice(0, 12);
    for (const name of names) {
      const image = sharp(path.join(SAMPLES, name)).resize(32, 32, { kernel: 'nearest' });
      await image.clone().png().toFile(path.join(plain!, name));
      await image.clone().flop().png().toFile(path.join(mirrored!, name));
    }
    const args = ['--deterministic', '-f', 'jsonl', '--per-class', '--device', 'cpu', '-q'];
    const [tta, a, b] = await Promise.all([
      runCli(['predict', plain!, '--tta', 'flip', ...args]),
      runCli(['predict', plain!, ...args]),
      runCli(['predict', mirrored!, ...args]),
    ]);
    for (const r of [tta, a, b]) assert.equal(r.code, 0, r.stderr);
    const [rows, own, mirror] = [tta, a, b].map((r) => jsonRows(r.stdout));
    assert.equal(rows!.length, names.length);
    rows!.forEach((row, i) => {
      // every printed value is rounded to 6 decimals: the mean of two such is within 1e-6 of the truth
      row.mean.forEach((p, c) => assert.ok(Math.abs(p - (own![i]!.mean[c]! + mirror![i]!.mean[c]!) / 2) <= 1.5e-6, `${row.path} class ${c}`));
    });
  });

  it('an ensemble with --tta flip: the part between views is there and the parts add up; the record names the views', async () => {
    const folder = tempDir();
    const npy = path.join(folder, 'p.npy');
    const { code, stderr } = await runCli([
      'predict',
      SAMPLES,
      '-m',
      path.join(ROOT, MEMBERS[0]),
      '-m',
      path.join(ROOT, MEMBERS[1]),
      '--tta',
      'flip',
      ...common,
      '-o',
      path.join(folder, 'out.csv'),
      '--save-passes',
      npy,
    ]);
    assert.equal(code, 0, stderr);
    const rows = readCsv(readFileSync(path.join(folder, 'out.csv'), 'utf8'));
    assert.ok(rows.some((r) => Number(r.mutual_information_views) > 1e-3));
    for (const r of rows) {
      const sum = Number(r.mutual_information_members) + Number(r.mutual_information_views) + Number(r.mutual_information_passes);
      assert.ok(Math.abs(sum - Number(r.mutual_information)) <= 2.1e-6, r.path);
    }
    const record = JSON.parse(readFileSync(`${npy}.run.json`, 'utf8')) as { views: string[]; members: unknown[] };
    assert.deepEqual(record.views, ['identity', 'flip']);
    assert.equal(record.members.length, 2);
  });

  it('evaluate --tta adds the TTA rows; the last is the run’s MC', async () => {
    const folder = tempDir();
    const json = path.join(folder, 'ev.json');
    const { code, stderr } = await runCli([
      'evaluate',
      SAMPLES,
      '--tta',
      'flip',
      '--truth',
      path.join(ROOT, 'fixtures/samples.csv'),
      ...common,
      '--json',
      json,
    ]);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(readFileSync(json, 'utf8')) as {
      numbers: { mc: { nll: number }; deterministic: { nll: number }; methods: { name: string; tta: boolean; samples: number; metrics: { nll: number } }[] };
    };
    const methods = report.numbers.methods;
    assert.deepEqual(
      methods.map((m) => [m.tta, m.samples]),
      [
        [false, 1],
        [false, 4],
        [true, 2],
        [true, 8],
      ],
    );
    assert.equal(methods[3]!.metrics.nll, report.numbers.mc.nll);
    // the usual table's dropout-off column has the views too: the two columns differ in dropout only
    assert.equal(methods[2]!.metrics.nll, report.numbers.deterministic.nll);
  });

  it('a calibration knows its views: one fitted with --tta flip is refused without them, and one fitted without is refused with them', async () => {
    const folder = tempDir();
    const [withFlip, without] = [path.join(folder, 'flip.json'), path.join(folder, 'plain.json')];
    const truth = ['--truth', path.join(ROOT, 'fixtures/samples.csv')];
    const fits = await Promise.all([
      runCli(['calibrate', SAMPLES, '--tta', 'flip', ...truth, ...common, '-o', withFlip]),
      runCli(['calibrate', SAMPLES, ...truth, ...common, '-o', without]),
    ]);
    for (const f of fits) assert.equal(f.code, 0, f.stderr);
    const [good, noViews, otherViews] = await Promise.all([
      runCli(['predict', SAMPLES, '--tta', 'flip', ...common, '--calibration', withFlip]),
      runCli(['predict', SAMPLES, ...common, '--calibration', withFlip]),
      runCli(['predict', SAMPLES, '--tta', 'flip', ...common, '--calibration', without]),
    ]);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(noViews.code, 2, noViews.stderr);
    assert.equal(otherViews.code, 2, otherViews.stderr);
    assert.match(otherViews.stderr, /with the views flip/);
  });

  it('refuses a view list it cannot read, views with the fast engine, with adaptive T and crops of a model that pads (exit 2); a list that adds nothing is a plain run', async () => {
    const cases = await Promise.all([
      runCli(['predict', SAMPLES, '--tta', 'flop', ...common]),
      runCli(['predict', SAMPLES, '--tta', 'flip,flip', ...common]),
      runCli(['predict', SAMPLES, '--tta', 'scale:3', ...common]),
      runCli(['predict', SAMPLES, '--tta', 'flip', '--resize-engine', 'fast', ...common]),
      runCli(['predict', SAMPLES, '--tta', 'flip', '-t', 'auto', '--device', 'cpu', '-q']),
      runCli(['predict', SAMPLES, '--tta', 'five-crop', '--resize', 'pad', ...common]),
      runCli(['predict', SAMPLES, '--tta', 'five-crop', '--crop-fraction', '0.0001', ...common]),
    ]);
    for (const c of cases) assert.equal(c.code, 2, c.stderr);
    assert.match(cases[0].stderr, /--tta but received 'flop'/);
    assert.match(cases[3].stderr, /for --resize-engine but received 'fast'/);
    assert.match(cases[4].stderr, /Adaptive T runs one model on one view: give --times a number/);
    // a crop fraction near 0 would resize every image past the pixel limit: refused before any image
    assert.match(cases[6].stderr, /resize every image to at least \d+x\d+ pixels, above 100000000\) for --crop-fraction/);
    // --tta repeats: the lists are one
    const [twice, once] = await Promise.all([
      runCli(['predict', SAMPLES, '--tta', 'flip', '--tta', 'five-crop', ...common]),
      runCli(['predict', SAMPLES, '--tta', 'flip,five-crop', ...common]),
    ]);
    assert.equal(twice.code, 0, twice.stderr);
    assert.equal(twice.stdout, once.stdout);
    const [none, plain] = await Promise.all([
      runCli(['predict', SAMPLES, '--tta', 'scale:1', '-t', '4', '--seed', '5', '--device', 'cpu']),
      runCli(['predict', SAMPLES, ...common]),
    ]);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stderr, /--tta scale:1 adds no view/);
    assert.equal(none.stdout, plain.stdout);
  });
});
