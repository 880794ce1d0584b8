/**
 * Property-based tests of every reader of a file mc-dropout wrote and reads back (issue #34):
 * damaged variants of a valid file (a field deleted, set to null, retyped, NaN or Infinity, an
 * array of the wrong length, the text cut short) must be refused with a UsageError (exit 2),
 * never crash (exit 70) and never be accepted with another number. Files that carry the SHA-256
 * of their content (calibration, evaluation, a passes file's record) must refuse any edit at all.
 * Seeds are fixed (fast-check's `seed`), so a failure reproduces.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { calibrationJson, parseCalibration } from '../../src/calibration/calibration-file.js';
import { fitCalibration } from '../../src/calibration/calibration.js';
import { McDropoutError } from '../../src/errors.js';
import { contentSha256 } from '../../src/io/schema.js';
import { readTruth } from '../../src/evaluate/truth.js';
import { mergeShards } from '../../src/run/merge.js';
import { readPassesRun } from '../../src/run/read-run.js';
import { readEvaluationReport } from '../../src/run/evaluate/file.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { mulberry32 } from '../helpers/random.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Step = string | number;

/** Every path to a value in a JSON tree (the root excluded). */
function pathsOf(value: Json, at: Step[] = []): Step[][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => [[...at, i], ...pathsOf(v, [...at, i])]);
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [[...at, k], ...pathsOf(v, [...at, k])]);
  return [];
}

/** The damage HOSTILE.md lists for a field of a file read back. */
const DAMAGE = ['delete', 'null', 'string', 'NaN', 'Infinity', 'negative', 'fraction', 'object', 'array', 'boolean', 'shorter', 'longer', 'huge'] as const;
type Damage = (typeof DAMAGE)[number];

/** A copy of `value` with `damage` done at `at`; undefined when that damage does not change it. */
function damaged(value: Json, at: Step[], damage: Damage): Json | undefined {
  const copy = structuredClone(value);
  let parent: any = copy;
  for (const step of at.slice(0, -1)) parent = parent[step];
  const key = at.at(-1)!;
  const old = parent[key] as Json;
  const replacement: Record<Exclude<Damage, 'delete' | 'shorter' | 'longer'>, Json> = {
    null: null,
    string: 'abc',
    NaN: 'NaN',
    Infinity: 'Infinity',
    negative: -1,
    fraction: 1.5,
    object: {},
    array: [],
    boolean: true,
    huge: 1e300,
  };
  if (damage === 'delete') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else if (damage === 'shorter' || damage === 'longer') {
    if (!Array.isArray(old) || old.length === 0) return undefined;
    if (damage === 'shorter') old.pop();
    else old.push(structuredClone(old.at(-1)!));
  } else parent[key] = replacement[damage];
  return JSON.stringify(copy) === JSON.stringify(value) ? undefined : copy;
}

/** Runs `read`: a refusal must be a UsageError (exit 2); an acceptance must give what the undamaged file gives. */
function refusedOrSame(read: () => unknown, expected: unknown, what: string): void {
  let got: unknown;
  try {
    got = read();
  } catch (error) {
    assert.ok(error instanceof McDropoutError && error.exitCode === 2, `${what}: ${error instanceof Error ? error.stack : String(error)}`);
    return;
  }
  assert.deepEqual(got, expected, `${what} was accepted with other content`);
}

/** Any damage at any field, and the text cut at any byte: refused, or read as the original (only a no-op may pass). */
function checkReader(text: string, read: (text: string) => unknown, options: { strict: boolean; runs?: number; seed: number }): void {
  const original = JSON.parse(text) as Json;
  const expected = read(text);
  const paths = pathsOf(original);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: paths.length - 1 }), fc.constantFrom(...DAMAGE), (p, damage) => {
      const variant = damaged(original, paths[p]!, damage);
      if (variant === undefined) return;
      const what = `${damage} at ${paths[p]!.join('.')}`;
      if (options.strict) {
        assert.throws(
          () => read(JSON.stringify(variant)),
          (e: unknown) => e instanceof McDropoutError && e.exitCode === 2,
          `${what} was accepted`,
        );
      } else refusedOrSame(() => read(JSON.stringify(variant)), expected, what);
    }),
    { seed: options.seed, numRuns: options.runs ?? 400 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: text.length - 2 }), (cut) => {
      assert.throws(
        () => read(text.slice(0, cut)),
        (e: unknown) => e instanceof McDropoutError && e.exitCode === 2,
        `cut at ${cut}`,
      );
    }),
    { seed: options.seed + 1, numRuns: 100 },
  );
}

const PREPROCESS = {
  height: 28,
  width: 28,
  layout: 'NCHW' as const,
  channelOrder: 'RGB' as const,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  resize: 'stretch' as const,
  interpolation: 'bilinear' as const,
  cropFraction: 0.875,
  alpha: 'remove' as const,
  background: [255, 255, 255] as [number, number, number],
  pixelLimit: 100_000_000,
  resizeEngine: 'exact' as const,
  colorProfile: 'ignore' as const,
};

/** A preprocessing record as releases before snake_case wrote it: PreprocessSpec's camelCase keys, `colourProfile` British. */
function earlierPreprocess(record: Record<string, unknown>): Record<string, unknown> {
  const earlierKeys: Record<string, string> = {
    channel_order: 'channelOrder',
    crop_fraction: 'cropFraction',
    pixel_limit: 'pixelLimit',
    resize_engine: 'resizeEngine',
    color_profile: 'colourProfile',
  };
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [earlierKeys[key] ?? key, value]));
}

/** A calibration fitted on 30 random images of 3 classes, 4 passes each (what calibrate writes). */
function sampleCalibration(classConditional: boolean): string {
  const random = mulberry32(7);
  const examples = Array.from({ length: 30 }, (_, i) => {
    const passProbs = new Float64Array(4 * 3);
    for (let t = 0; t < 4; t++) {
      const raw = [random() + 0.1, random() + 0.1, random() + (i % 3) * 0.5];
      const sum = raw[0]! + raw[1]! + raw[2]!;
      raw.forEach((r, c) => (passProbs[t * 3 + c] = r / sum));
    }
    return { name: `img-${i}.png`, passProbs, label: i % 3 };
  });
  const calibration = fitCalibration(
    examples,
    { model: { sha256: 'ab'.repeat(32), classes: 3, labels: ['a', 'b', 'c'] }, preprocess: PREPROCESS, passes: 4, seed: 11 },
    { alpha: classConditional ? 0.2 : 0.1, score: 'aps', seed: 11, classConditional },
  );
  return calibrationJson(calibration, { version: '0.1.0' });
}

describe('property: every reader refuses damage, never crashes, never reads another number', () => {
  it('calibration (marginal and per class): any edit is refused, infinite thresholds read back as Infinity', () => {
    for (const classConditional of [false, true]) {
      const text = sampleCalibration(classConditional);
      const read = parseCalibration(text, 'cal.json');
      if (classConditional) assert.ok(read.conformal.perClass.every((t) => t === Infinity || Number.isFinite(t)));
      checkReader(text, (t) => parseCalibration(t, 'cal.json'), { strict: true, seed: classConditional ? 31 : 37 });
    }
  });

  describe('files a run wrote', () => {
    let folder: string;
    let npy: string;
    let evaluation: string;
    let shardOutput: string;

    before(() => {
      folder = tempDir();
      npy = path.join(folder, 'passes.npy');
      evaluation = path.join(folder, 'eval.json');
      shardOutput = path.join(folder, 'out.csv');
      const images = ['bag-18.png', 'coat-10.png', 'ankle-boot-0.png'].map((f) => path.join(ROOT, 'fixtures/samples', f));
      const cli = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args, '--device', 'cpu', '-q'], { cwd: ROOT });
      cli('predict', ...images, '-t', '2', '--seed', '1', '-o', path.join(folder, 'run.csv'), '--save-passes', npy);
      cli('evaluate', ...images, '--truth', 'fixtures/samples.csv', '-t', '2', '--seed', '1', '--json', evaluation);
      for (const shard of ['0/2', '1/2']) cli('predict', ...images, '-t', '2', '--seed', '1', '--shard', shard, '-o', shardOutput);
    });

    it("a passes file's .run.json: any edit is refused", () => {
      const file = `${npy}.run.json`;
      const text = readFileSync(file, 'utf8');
      checkReader(
        text,
        (t) => {
          writeFileSync(file, t);
          return readPassesRun(npy);
        },
        { strict: true, seed: 41, runs: 300 },
      );
      writeFileSync(file, text);
    });

    it("an earlier release's .run.json (the preprocessing in camelCase, its digest over that) reads as today's; any edit is refused", () => {
      const file = `${npy}.run.json`;
      const text = readFileSync(file, 'utf8');
      const today = readPassesRun(npy);
      const { sha256: _, ...run } = JSON.parse(text) as Record<string, unknown> & { preprocess: Record<string, unknown> };
      const earlier = { ...run, preprocess: earlierPreprocess(run.preprocess) };
      const earlierText = JSON.stringify({ ...earlier, sha256: contentSha256(earlier) }, null, 2);
      writeFileSync(file, earlierText);
      assert.deepEqual(readPassesRun(npy), today);
      checkReader(
        earlierText,
        (t) => {
          writeFileSync(file, t);
          return readPassesRun(npy);
        },
        { strict: true, seed: 59, runs: 150 },
      );
      writeFileSync(file, text);
    });

    it('an evaluation (report --from): any edit is refused', () => {
      const text = readFileSync(evaluation, 'utf8');
      const copy = path.join(folder, 'edited.json');
      checkReader(
        text,
        (t) => {
          writeFileSync(copy, t);
          return readEvaluationReport(copy);
        },
        { strict: true, seed: 43, runs: 300 },
      );
    });

    it("a shard's metadata: refused, or the merge is byte for byte the one of the undamaged metadata", () => {
      const meta = `${shardOutput.replace(/\.csv$/, '.shard-0000-of-0002.csv')}.meta.json`;
      assert.ok(existsSync(meta), meta);
      const text = readFileSync(meta, 'utf8');
      checkReader(
        text,
        (t) => {
          writeFileSync(meta, t);
          mergeShards({ output: shardOutput, version: '0.1.0' });
          return readFileSync(shardOutput, 'utf8');
        },
        { strict: false, seed: 47, runs: 200 },
      );
      writeFileSync(meta, text);
    });
  });

  it('a truth CSV: cut, lines repeated with another class, CRLF and a BOM: refused, or every class read is the true one', () => {
    const folder = tempDir();
    const labels = ['cat', 'dog', 'fox'];
    const files = Array.from({ length: 12 }, (_, i) => path.join(folder, `img-${i}.png`));
    const truthOf = (i: number) => labels[i % 3]!;
    const lines = ['path,label', ...files.map((f, i) => `${f},${truthOf(i)}`)];
    const csv = path.join(folder, 'truth.csv');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: lines.join('\n').length }),
        fc.option(fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 2 }))),
        fc.boolean(),
        fc.boolean(),
        (cut, repeat, crlf, bom) => {
          const body = [...lines];
          if (repeat) body.push(`${files[repeat[0] - 1]},${labels[repeat[1]]}`);
          let text = body.join(crlf ? '\r\n' : '\n').slice(0, cut + (repeat ? 200 : 0));
          if (bom) text = `\uFEFF${text}`;
          writeFileSync(csv, text);
          let truth: Map<string, number>;
          try {
            truth = readTruth({ kind: 'csv', file: csv }, files, labels);
          } catch (error) {
            assert.ok(error instanceof McDropoutError && error.exitCode === 2, String(error));
            return;
          }
          for (const [file, index] of truth) assert.equal(labels[index], truthOf(files.indexOf(file)), file);
        },
      ),
      { seed: 53, numRuns: 300 },
    );
  });
});
