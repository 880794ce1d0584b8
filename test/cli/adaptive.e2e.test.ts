import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { McModel } from '../../src/engine/mc-model.js';
import { BUNDLED_MODEL } from '../../src/paths.js';
import { predictFiles } from '../../src/pipeline.js';
import { resolvePreprocess } from '../../src/preprocess/spec.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

type Row = Record<string, string>;
const readCsv = (text: string): Row[] => parse<Row>(text, { columns: true });
const args = ['predict', 'fixtures/samples', '--times', 'auto', '--seed', '3', '--device', 'cpu'];

describe('--times auto', () => {
  it("an image's passes are the first T_i passes of a fixed run with the same seed", async () => {
    const model = await McModel.load(BUNDLED_MODEL, { device: 'cpu' });
    try {
      const files = ['bag-18.png', 'shirt-7.png', 'ankle-boot-23.png'].map((f) => path.join(ROOT, 'fixtures/samples', f));
      const rule = { minPasses: 4, maxPasses: 40, tolerance: 0.05, z: 3 };
      const results = [];
      for await (const r of predictFiles(model, files, {
        passes: 0,
        adaptive: rule,
        seed: 3,
        batchSize: 8,
        decodeConcurrency: 4,
        preprocess: resolvePreprocess(model.info),
        keepPasses: true,
      }))
        results.push(r);
      const { loadImageTensor } = await import('../../src/preprocess/decode.js');
      const images = await Promise.all(files.map((f) => loadImageTensor(f, resolvePreprocess(model.info))));
      const fixed = await model.predict(images, { passes: 40, seed: 3 });
      const classes = model.info.classes;
      results.forEach((r, i) => {
        assert.equal(r.status, 'ok');
        if (r.status !== 'ok') return;
        const used = r.passProbs!.length / classes;
        assert.ok((used >= 4 && used <= 40 && used % 4 === 0) || used === 40, `${used} passes`);
        assert.deepEqual(r.passProbs, fixed[i]!.subarray(0, used * classes));
      });
      // a later round continues an earlier one exactly
      const tail = await model.predict(images.slice(0, 1), { passes: 5, seed: 3, firstPass: 7 });
      assert.deepEqual(tail[0], fixed[0]!.subarray(7 * classes, 12 * classes));
    } finally {
      await model.dispose();
    }
  });

  it('writes a passes column, the same bytes at batch sizes 1 and 7, and reports the passes used', async () => {
    const folder = tempDir();
    const one = await runCli([...args, '-b', '1', '-o', path.join(folder, 'one.csv')]);
    const seven = await runCli([...args, '-b', '7', '-o', path.join(folder, 'seven.csv')]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(seven.code, 0, seven.stderr);
    assert.equal(readFileSync(path.join(folder, 'one.csv'), 'utf8'), readFileSync(path.join(folder, 'seven.csv'), 'utf8'));
    const rows = readCsv(readFileSync(path.join(folder, 'one.csv'), 'utf8'));
    const passes = rows.map((r) => Number(r.passes));
    assert.ok(
      passes.every((p) => p >= 8 && p <= 128 && p % 8 === 0),
      `${passes}`,
    );
    assert.ok(new Set(passes).size > 1, 'easy and hard images get different numbers of passes');
    const meta = JSON.parse(readFileSync(path.join(folder, 'one.csv.meta.json'), 'utf8')) as {
      passes: string;
      passes_used: { mean: number; max: number };
      settings: { adaptive: unknown };
    };
    assert.equal(meta.passes, 'auto');
    assert.ok(Math.abs(meta.passes_used.mean - passes.reduce((a, b) => a + b, 0) / passes.length) < 1e-9);
    assert.deepEqual(meta.settings.adaptive, { min_passes: 8, max_passes: 128, tolerance: 0.06, z: 3 });
    assert.match(one.stderr, /T=auto \(mean [\d.]+, median [\d.]+, max \d+\)/);
    const fixed = await runCli(['predict', 'fixtures/samples', '-t', '5', '--seed', '3', '--device', 'cpu', '-q']);
    assert.doesNotMatch(fixed.stdout.split('\n')[0]!, /passes/, 'a fixed T keeps the columns it had');
  });

  it("works with resume, shards and merge, JSONL, --save-passes and --trunk-reuse off, all giving the single run's rows", async () => {
    const folder = tempDir();
    const auto = ['--times', 'auto', '--seed', '9', '--device', 'cpu', '-q', '--min-times', '4', '--max-times', '24'];
    const single = await runCli([
      'predict',
      'fixtures/samples',
      ...auto,
      '-o',
      path.join(folder, 'single.csv'),
      '--save-passes',
      path.join(folder, 'single.npy'),
    ]);
    assert.equal(single.code, 0, single.stderr);
    const expected = readFileSync(path.join(folder, 'single.csv'), 'utf8');
    const rows = readCsv(expected);

    // resume: the first half, then all with --resume
    const list = readdirSync(path.join(ROOT, 'fixtures/samples'))
      .sort()
      .map((f) => path.join('fixtures/samples', f));
    writeFileSync(path.join(folder, 'half.txt'), list.slice(0, 20).join('\n'));
    writeFileSync(path.join(folder, 'all.txt'), list.join('\n'));
    const resumed = path.join(folder, 'resumed.csv');
    assert.equal((await runCli(['predict', '--list', path.join(folder, 'half.txt'), ...auto, '-o', resumed])).code, 0);
    assert.equal((await runCli(['predict', '--list', path.join(folder, 'all.txt'), ...auto, '-o', resumed, '--resume'])).code, 0);
    assert.deepEqual(readCsv(readFileSync(resumed, 'utf8')), rows);

    // two shards merged
    for (const index of [0, 1])
      assert.equal((await runCli(['predict', 'fixtures/samples', ...auto, '--shard', `${index}/2`, '-o', path.join(folder, 'sharded.csv')])).code, 0);
    const merged = await runCli(['merge', '-o', path.join(folder, 'sharded.csv')]);
    assert.equal(merged.code, 0, merged.stderr);
    assert.equal(readFileSync(path.join(folder, 'sharded.csv'), 'utf8'), expected);

    // JSONL carries the same passes
    const jsonl = await runCli(['predict', 'fixtures/samples', ...auto, '-f', 'jsonl']);
    assert.deepEqual(
      jsonl.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { passes: number }).passes),
      rows.map((r) => Number(r.passes)),
    );

    // the passes file: T_i passes per image, NaN after them
    const npy = readFileSync(path.join(folder, 'single.npy'));
    const headerLength = npy.readUInt16LE(8);
    const data = new Float32Array(npy.buffer.slice(npy.byteOffset + 10 + headerLength, npy.byteOffset + npy.length));
    rows.forEach((row, i) => {
      const passes = data.subarray(i * 24 * 10, (i + 1) * 24 * 10);
      const used = Number(row.passes);
      assert.ok(passes.subarray(0, used * 10).every(Number.isFinite) && passes.subarray(used * 10).every(Number.isNaN), `${row.path}: ${used} passes`);
    });

    // the whole graph per pass (no trunk reuse) stops each image at the same pass, with the same numbers to float rounding
    const whole = readCsv((await runCli(['predict', 'fixtures/samples', ...auto, '--trunk-reuse', 'off'])).stdout);
    assert.deepEqual(
      whole.map((r) => r.passes),
      rows.map((r) => r.passes),
    );
    whole.forEach((r, i) =>
      assert.ok(Math.abs(Number(r.confidence) - Number(rows[i]!.confidence)) <= 2e-6, `${r.path}: ${r.confidence} vs ${rows[i]!.confidence}`),
    );
  });

  it("a float16 model with trunk reuse: its passes are a fixed run's, bit for bit (rounds on the whole split graph)", async () => {
    const model = await McModel.load(path.join(ROOT, 'fixtures/modern/effnet_droppath_fp16.onnx'), { device: 'cpu' });
    try {
      assert.ok(model.plan.trunkReuse);
      const images = [0, 1, 2].map((k) => Float32Array.from({ length: model.imageSize }, (_, i) => Math.sin(i * 0.01 + k)));
      const rule = { minPasses: 3, maxPasses: 12, tolerance: 0.01, z: 3 };
      const adaptive = await model.predict(images, { passes: 0, seed: 4, adaptive: rule });
      const fixed = await model.predict(images, { passes: 12, seed: 4 });
      const classes = model.info.classes;
      adaptive.forEach((probs, i) => {
        const used = probs.length / classes;
        assert.ok(used % 3 === 0 && used >= 3 && used <= 12);
        assert.deepEqual(probs, fixed[i]!.subarray(0, used * classes));
      });
    } finally {
      await model.dispose();
    }
  });

  it("the pool takes in new images between rounds (a refilled batch) without changing any image's passes or stop", async () => {
    const model = await McModel.load(BUNDLED_MODEL, { device: 'cpu' });
    try {
      const { loadImageTensor } = await import('../../src/preprocess/decode.js');
      const names = ['bag-18.png', 'shirt-7.png', 'ankle-boot-23.png', 'coat-10.png', 'pullover-20.png', 'shirt-4.png'];
      const images = await Promise.all(names.map((f) => loadImageTensor(path.join(ROOT, 'fixtures/samples', f), resolvePreprocess(model.info))));
      const rule = { minPasses: 4, maxPasses: 40, tolerance: 0.05, z: 3 };
      const pool = model.adaptivePool(5, rule);
      const out = new Map<number, Float64Array>();
      const ids = await pool.add(images.slice(0, 2));
      for (const done of await pool.round()) out.set(done.id, done.probs);
      ids.push(...(await pool.add(images.slice(2))));
      let rounds = 1;
      while (pool.active > 0) {
        for (const done of await pool.round()) out.set(done.id, done.probs);
        rounds++;
      }
      const fixed = await model.predict(images, { passes: 40, seed: 5 });
      const alone = await model.predict(images, { passes: 0, seed: 5, adaptive: rule });
      const classes = model.info.classes;
      ids.forEach((id, i) => {
        const probs = out.get(id)!;
        assert.deepEqual(probs, fixed[i]!.subarray(0, probs.length));
        assert.deepEqual(probs, alone[i], `${names[i]}: the same passes whether it joined late or not`);
      });
      assert.ok(new Set(ids.map((id) => out.get(id)!.length / classes)).size > 1, 'images stop at different passes');
      assert.ok(rounds >= 2);
    } finally {
      await model.dispose();
    }
  });
});
