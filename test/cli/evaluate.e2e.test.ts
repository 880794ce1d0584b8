import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { keysNotSnakeCase } from '../helpers/json-keys.js';
import { contentSha256 } from '../../src/io/schema.js';
import { readEvaluationReport } from '../../src/run/evaluate/file.js';

interface Report {
  counts: { images: number; labeled: number; unlabeled: number; failed: number };
  passes: number;
  seed: number;
  labels: string[];
  numbers: {
    mc: { accuracy: number; nll: number; brier: number; calibration: { ece: number } };
    deterministic?: { accuracy: number; nll: number };
    by_passes: { passes: number; metrics: { accuracy: number; nll: number } }[];
  };
  images: { path: string; truth: number | null; predicted: number }[];
}

/** True class index of each sample, from fixtures/samples.csv (paths relative to fixtures/). */
const truth = new Map(
  parse<{ file: string; class_index: string }>(readFileSync(path.join(ROOT, 'fixtures/samples.csv'), 'utf8'), { columns: true }).map((r) => [
    path.join(ROOT, 'fixtures', r.file),
    Number(r.class_index),
  ]),
);

/** Accuracy and NLL recomputed here from predict's own rows (JSONL, per-class means rounded to 6 decimals). */
function scoreRows(jsonl: string): { accuracy: number; nll: number } {
  const rows = jsonl
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { path: string; class_index: number; mean: number[] });
  let correct = 0;
  let nll = 0;
  for (const row of rows) {
    const label = truth.get(path.resolve(ROOT, row.path))!;
    if (row.class_index === label) correct++;
    nll -= Math.log(row.mean[label]!);
  }
  return { accuracy: correct / rows.length, nll: nll / rows.length };
}

describe('mc-dropout evaluate', () => {
  const folder = tempDir();
  let report: Report;

  before(async () => {
    const run = await runCli([
      'evaluate',
      'fixtures/samples',
      '--truth',
      'fixtures/samples.csv',
      '-t',
      '6',
      '--seed',
      '3',
      '--device',
      'cpu',
      '-q',
      '--json',
      path.join(folder, 'eval.json'),
      '--plots',
      path.join(folder, 'plots'),
    ]);
    assert.equal(run.code, 0, run.stderr);
    report = JSON.parse(readFileSync(path.join(folder, 'eval.json'), 'utf8')) as Report;
    assert.match(run.stdout, /^50 labeled images; T=6, seed 3/);
    assert.match(run.stdout, /accuracy +\d+\.\d\d% +\d+\.\d\d%/);
    assert.match(run.stdout, /AUROC errors vs correct, mutual information +n\/a +0\.\d{4}/);
    assert.match(run.stdout, /With the first T passes:\nT +accuracy/);
  });

  it("agrees with predict's own rows: MC and deterministic accuracy and NLL, recomputed from the CSV of true classes", async () => {
    const mc = await runCli(['predict', 'fixtures/samples', '-t', '6', '--seed', '3', '--device', 'cpu', '-q', '-f', 'jsonl', '--per-class']);
    const det = await runCli(['predict', 'fixtures/samples', '--deterministic', '--device', 'cpu', '-q', '-f', 'jsonl', '--per-class']);
    const fromMc = scoreRows(mc.stdout);
    const fromDet = scoreRows(det.stdout);
    assert.equal(report.counts.labeled, 50);
    assert.equal(report.numbers.mc.accuracy, fromMc.accuracy);
    assert.equal(report.numbers.deterministic!.accuracy, fromDet.accuracy);
    // the rows round each probability to 6 decimals: about 1e-6 relative on the NLL
    assert.ok(Math.abs(report.numbers.mc.nll - fromMc.nll) < 1e-4, `${report.numbers.mc.nll} vs ${fromMc.nll}`);
    assert.ok(Math.abs(report.numbers.deterministic!.nll - fromDet.nll) < 1e-4, `${report.numbers.deterministic!.nll} vs ${fromDet.nll}`);
    assert.deepEqual(
      report.numbers.by_passes.map((p) => p.passes),
      [1, 2, 5, 6],
    );
    assert.equal(report.numbers.by_passes.at(-1)!.metrics.accuracy, report.numbers.mc.accuracy);
  });

  it('writes every figure as SVG and PNG', () => {
    const files = readdirSync(path.join(folder, 'plots')).sort();
    assert.deepEqual(
      files,
      ['confusion', 'metrics-vs-t', 'reliability', 'risk-coverage', 'uncertainty'].flatMap((n) => [`${n}.png`, `${n}.svg`]),
    );
    for (const file of files.filter((f) => f.endsWith('.png'))) {
      const bytes = readFileSync(path.join(folder, 'plots', file));
      assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG', file);
      // 2x density: the reliability diagram is several hundred pixels wide
      assert.ok(bytes.readUInt32BE(16) > 400, `${file} is ${bytes.readUInt32BE(16)} pixels wide`);
    }
    const svg = readFileSync(path.join(folder, 'plots', 'reliability.svg'), 'utf8');
    assert.match(svg, /^<svg/);
    assert.match(svg, /Reliability diagram/);
    assert.match(svg, /mean confidence in bin/);
  });

  it('reads the true classes from one folder per class (ImageFolder), names matched to the labels loosely', async () => {
    const root = path.join(tempDir(), 'test');
    for (const [file, label] of truth) {
      const name = ['t-shirt-top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle_boot'][label]!;
      mkdirSync(path.join(root, name), { recursive: true });
      copyFileSync(file, path.join(root, name, path.basename(file)));
    }
    const run = await runCli(['evaluate', root, '-t', '6', '--seed', '3', '--device', 'cpu', '-q', '--json', '-']);
    assert.equal(run.code, 0, run.stderr);
    const fromFolders = JSON.parse(run.stdout) as Report;
    // masks are keyed by image content, not path: the same images give the same numbers
    assert.deepEqual(fromFolders.numbers, report.numbers);
  });

  it('refuses a class folder that is not a label, naming it, and a set without any true class (exit 2)', async () => {
    const root = tempDir();
    mkdirSync(path.join(root, 'bag'));
    mkdirSync(path.join(root, 'handbags'));
    copyFileSync(path.join(ROOT, 'fixtures/samples/bag-18.png'), path.join(root, 'bag', 'a.png'));
    copyFileSync(path.join(ROOT, 'fixtures/samples/bag-30.png'), path.join(root, 'handbags', 'b.png'));
    const wrong = await runCli(['evaluate', root, '-t', '2', '--device', 'cpu', '-q']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /The folder "handbags" \(1 images\) is not a class of the model: its labels are T-shirt\/top, Trouser/);
    const none = await runCli(['evaluate', 'fixtures/samples', '-t', '2', '--device', 'cpu', '-q']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /None of the 50 images has a true class: put each class's images in a folder named after the class/);
    const badCsv = await runCli(['evaluate', 'fixtures/samples', '--truth', path.join(root, 'missing.csv'), '-t', '2', '--device', 'cpu', '-q']);
    assert.equal(badCsv.code, 2);
    assert.match(badCsv.stderr, /Cannot read the ground truth .*missing\.csv/);
  });

  it("--from a --save-passes file gives the run's MC numbers and T curve (no deterministic pass)", async () => {
    const npy = path.join(folder, 'p.npy');
    const saved = await runCli([
      'predict',
      'fixtures/samples',
      '-t',
      '6',
      '--seed',
      '3',
      '--device',
      'cpu',
      '-q',
      '-o',
      path.join(folder, 'p.csv'),
      '--save-passes',
      npy,
    ]);
    assert.equal(saved.code, 0, saved.stderr);
    // a passes file holds no class names: -m names them (or --labels)
    const run = await runCli(['evaluate', '--from', npy, '-m', 'models/fashion-mnist-mc.onnx', '--truth', 'fixtures/samples.csv', '--json', '-', '-q']);
    assert.equal(run.code, 0, run.stderr);
    const read = JSON.parse(run.stdout) as Report;
    assert.equal(read.numbers.deterministic, undefined);
    assert.equal(read.numbers.mc.accuracy, report.numbers.mc.accuracy);
    // float32 passes in the file, float64 in the run
    assert.ok(Math.abs(read.numbers.mc.nll - report.numbers.mc.nll) < 1e-6);
    assert.deepEqual(
      read.numbers.by_passes.map((p) => [p.passes, p.metrics.accuracy]),
      report.numbers.by_passes.map((p) => [p.passes, p.metrics.accuracy]),
    );
  });

  it('--from a JSONL predict output needs its per-class means', async () => {
    const jsonl = path.join(folder, 'run.jsonl');
    await runCli(['predict', 'fixtures/samples', '-t', '6', '--seed', '3', '--device', 'cpu', '-q', '-f', 'jsonl', '--per-class', '-o', jsonl]);
    const run = await runCli(['evaluate', '--from', jsonl, '--truth', 'fixtures/samples.csv', '--json', '-', '-q']);
    assert.equal(run.code, 0, run.stderr);
    const read = JSON.parse(run.stdout) as Report;
    assert.equal(read.passes, 6);
    assert.equal(read.numbers.mc.accuracy, report.numbers.mc.accuracy);
    assert.ok(Math.abs(read.numbers.mc.nll - report.numbers.mc.nll) < 1e-4);
    assert.deepEqual(read.numbers.by_passes, []);
    const plain = path.join(folder, 'plain.jsonl');
    await runCli(['predict', 'fixtures/samples', '-t', '2', '--device', 'cpu', '-q', '-f', 'jsonl', '-o', plain]);
    const refused = await runCli(['evaluate', '--from', plain, '--truth', 'fixtures/samples.csv', '-q']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /has no per-class means: rerun predict with -f jsonl --per-class/);
  });

  it('prints the table docs/evaluate.md shows (bundled model, 50 samples, T=30, seed 42)', async () => {
    const readme = readFileSync(path.join(ROOT, 'docs', 'evaluate.md'), 'utf8');
    const shown = /mc-dropout evaluate fixtures\/samples --truth fixtures\/samples\.csv -t 30 --seed 42 --plots plots\/\n```\n\n```text\n([\s\S]*?)\n```/.exec(
      readme,
    )![1]!;
    const run = await runCli(['evaluate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', '-t', '30', '--seed', '42', '--device', 'cpu', '-q']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trimEnd(), shown);
  });

  it('leaves out a file it cannot decode (counted, warned, exit 1); report --from its JSON renders the same run', async () => {
    const json = path.join(folder, 'with-bad.json');
    const run = await runCli([
      'evaluate',
      'fixtures/samples',
      'fixtures/bad/text.png',
      '--truth',
      'fixtures/samples.csv',
      '-t',
      '6',
      '--seed',
      '3',
      '--device',
      'cpu',
      '--json',
      json,
    ]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, /^50 labeled images, 1 failed; T=6, seed 3/);
    assert.match(run.stderr, /fixtures\/bad\/text\.png: not an image \(left out\)/);
    const read = JSON.parse(readFileSync(json, 'utf8')) as Report;
    assert.deepEqual(read.numbers, report.numbers, 'the failed file changes no number');
    const html = path.join(folder, 'from-json.html');
    const page = await runCli(['report', '--from', json, '-o', html, '-q']);
    assert.equal(page.code, 1);
    const text = readFileSync(html, 'utf8');
    assert.match(text, /51 images: 50 with a true class, 0 without, 1 failed/);
    assert.match(text, /<h2>Confidently wrong<\/h2>/);
    assert.equal((text.match(/<figure>/g) ?? []).length, 5);
  });

  it("writes snake_case keys only; report --from reads an earlier release's camelCase file (counts.labelled) as the same evaluation", async () => {
    const json = path.join(folder, 'eval.json');
    const today = JSON.parse(readFileSync(json, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(keysNotSnakeCase(today), []);
    assert.ok('by_passes' in (today.numbers as object) && 'risk_coverage' in (today.numbers as { mc: object }).mc);
    // the previous release's spelling of each key, by hand; `auroc`'s keys are score names and stay
    const earlier: Record<string, string> = {
      by_passes: 'byPasses', adaptive_ece: 'adaptiveEce', risk_coverage: 'riskCoverage', e_aurc: 'eAurc',
      labeled: 'labelled', unlabeled: 'unlabelled',
    }; // prettier-ignore
    const respelled = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(respelled)
        : typeof value === 'object' && value !== null
          ? Object.fromEntries(Object.entries(value).map(([k, v]) => [earlier[k] ?? k, respelled(v)]))
          : value;
    const { sha256: _, ...content } = respelled(today) as Record<string, unknown>;
    assert.ok('labelled' in (content.counts as object) && 'byPasses' in (content.numbers as object));
    const old = path.join(folder, 'earlier.json');
    writeFileSync(old, JSON.stringify({ ...content, sha256: contentSha256(content) }, null, 2));
    assert.deepEqual(readEvaluationReport(old), readEvaluationReport(json));
    assert.equal(readEvaluationReport(json).numbers!.byPasses.length, report.numbers.by_passes.length);
    const page = await runCli(['report', '--from', old, '-o', path.join(folder, 'earlier.html'), '-q']);
    assert.equal(page.code, 0, page.stderr);
    // an edit of the earlier file is still refused by its digest
    writeFileSync(old, JSON.stringify({ ...content, seed: 4, sha256: contentSha256(content) }));
    assert.throws(() => readEvaluationReport(old), /content no longer matches its "sha256"/);
  });
});
