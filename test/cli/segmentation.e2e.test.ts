/**
 * predict on a segmentation model, end to end: a 1x1-conv model whose maps are known in closed
 * form, images written here, the maps folder read back with our PNG reader and numpy's format.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { encodePng, readClassIndexPng } from '../../src/io/png.js';
import { execFileSync, spawn } from 'node:child_process';
import { BIN, runCli } from '../helpers/cli.js';
import { tempDir, writeModel } from '../helpers/files.js';
import { segmentationModel, testValues } from '../helpers/graphs.js';
import { readNpy } from '../helpers/npy.js';

const SIZE = 8;
const CLASSES = 4;
const weights = testValues(CLASSES * 3, 5).map((w) => 4 * w);
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

let dir: string;
let model: string;
let images: string;
const pixelsOf = new Map<string, Uint8Array>();

/** RGB bytes of a test image: seeded noise. */
function noise(seed: number, width = SIZE, height = SIZE): Uint8Array {
  return Uint8Array.from(testValues(width * height * 3, seed).map((v) => Math.floor((v + 1) * 127.9)));
}

async function writePng(file: string, rgb: Uint8Array, width = SIZE, height = SIZE): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  await sharp(Buffer.from(rgb), { raw: { width, height, channels: 3 } })
    .png()
    .toFile(file);
}

/** The class of each pixel with dropout off, from the model's formula on ToTensor + Normalize of the pixels (float64 here). */
function deterministicLabels(rgb: Uint8Array): number[] {
  const labels: number[] = [];
  for (let p = 0; p < SIZE * SIZE; p++) {
    const x = [0, 1, 2].map((k) => (rgb[p * 3 + k]! / 255 - MEAN[k]!) / STD[k]!);
    const scores = [...Array(CLASSES).keys()].map((c) => x.reduce((s, v, k) => s + v * Math.fround(weights[c * 3 + k]!), 0));
    labels.push(scores.indexOf(Math.max(...scores)));
  }
  return labels;
}

const rowsOf = (file: string) => parse<Record<string, string>>(readFileSync(file, 'utf8'), { columns: true });
const labelPng = (file: string) => readClassIndexPng(readFileSync(file), file);

describe('predict on a segmentation model', () => {
  before(async () => {
    dir = tempDir();
    model = writeModel(segmentationModel(0.5, SIZE, SIZE, weights, CLASSES), 'seg.onnx', dir);
    images = path.join(dir, 'images');
    for (const [name, seed] of [
      ['a.png', 1],
      ['sub/b.png', 2],
      ['c.png', 3],
    ] as const) {
      pixelsOf.set(name, noise(seed));
      await writePng(path.join(images, name), noise(seed));
    }
    writeFileSync(path.join(images, 'broken.png'), 'not a png');
  });

  it('writes per image a label map, uncertainty maps and a row of image-level scores; a broken image is an error row, the rest go on (exit 1)', async () => {
    const out = path.join(dir, 'maps');
    const r = await runCli(['predict', images, '-m', model, '-o', out, '-t', '8', '--seed', '3', '--per-class', '-q']);
    assert.equal(r.code, 1, r.stderr);
    const rows = rowsOf(path.join(out, 'scores.csv'));
    assert.deepEqual(
      rows.map((row) => [path.relative(images, row.path!), row.status, row.maps]),
      [
        ['a.png', 'ok', 'a'],
        ['broken.png', 'error', ''],
        ['c.png', 'ok', 'c'],
        ['sub/b.png', 'ok', 'sub/b'],
      ],
    );
    for (const stem of ['a', 'c', 'sub/b']) {
      const probs = readNpy(path.join(out, `${stem}.probs.npy`));
      assert.deepEqual(probs.shape, [CLASSES, SIZE, SIZE]);
      const maps = readNpy(path.join(out, `${stem}.maps.npy`));
      assert.deepEqual(maps.shape, [3, SIZE, SIZE]);
      const label = labelPng(path.join(out, `${stem}.label.png`));
      // a 16-bit grey PNG's values, as a class-index reader reads them
      const entropyLevels = labelPng(path.join(out, `${stem}.entropy.png`)).indices;
      const P = SIZE * SIZE;
      for (let p = 0; p < P; p++) {
        const mean = [...Array(CLASSES).keys()].map((c) => probs.data[c * P + p]!);
        assert.ok(Math.abs(mean.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'mean probabilities sum to 1');
        assert.equal(label.indices[p], mean.indexOf(Math.max(...mean)), `label of pixel ${p}`);
        assert.ok(Math.abs(maps.data[p]! - Math.max(...mean)) < 1e-6, 'confidence is the largest mean');
        const h = -mean.reduce((s, m) => s + (m > 0 ? m * Math.log(m) : 0), 0);
        assert.ok(Math.abs(maps.data[P + p]! - h) < 1e-5, 'entropy of the mean');
        assert.ok(maps.data[2 * P + p]! >= 0 && maps.data[2 * P + p]! <= h + 1e-6, 'mutual information in [0, H]');
        assert.equal(entropyLevels[p], Math.round((maps.data[P + p]! / Math.log(CLASSES)) * 65535), '16-bit entropy level');
      }
      const row = rows.find((x) => x.maps === stem)!;
      const meanOf = (from: number) => maps.data.subarray(from, from + P).reduce((a, b) => a + b, 0) / P;
      assert.ok(Math.abs(Number(row.confidence) - meanOf(0)) < 2e-6, 'confidence column: mean over pixels');
      assert.ok(Math.abs(Number(row.entropy) - meanOf(P)) < 2e-6, 'entropy column');
      assert.ok(Math.abs(Number(row.mutual_information) - meanOf(2 * P)) < 2e-6, 'mutual_information column');
      const counts = JSON.parse(row.class_pixels!) as Record<string, number>;
      assert.equal(
        Object.values(counts).reduce((a, b) => a + b, 0),
        P,
      );
    }
    const written = readdirSync(out, { recursive: true }).map(String).sort();
    assert.ok(!written.some((f) => /partial|tmp/.test(f)), `no temp file is left: ${written.join(' ')}`);
    const meta = JSON.parse(readFileSync(path.join(out, 'scores.csv.meta.json'), 'utf8'));
    assert.equal(meta.kind, 'segmentation');
    assert.deepEqual(meta.model.map, { layout: 'NCHW', height: SIZE, width: SIZE, binary: false });
  });

  it('with dropout off, labels each pixel as the closed form of the model on the preprocessed image says', async () => {
    const out = path.join(dir, 'det');
    const r = await runCli(['predict', path.join(images, 'a.png'), path.join(images, 'sub'), '-m', model, '-o', out, '--deterministic', '-q']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([...labelPng(path.join(out, 'a.label.png')).indices], deterministicLabels(pixelsOf.get('a.png')!));
    // a folder given: its files' paths below it
    assert.deepEqual([...labelPng(path.join(out, 'b.label.png')).indices], deterministicLabels(pixelsOf.get('sub/b.png')!));
    const row = rowsOf(path.join(out, 'scores.csv'))[0]!;
    assert.equal(Number(row.mutual_information), 0, 'one pass: no mutual information');
  });

  it('resumes: images with a row are skipped, the others done; the same seed gives the same maps', async () => {
    const out = path.join(dir, 'resume');
    const first = await runCli(['predict', path.join(images, 'a.png'), '-m', model, '-o', out, '-t', '4', '--seed', '9', '-q']);
    assert.equal(first.code, 0, first.stderr);
    const aBefore = readFileSync(path.join(out, 'a.maps.npy'));
    const again = await runCli([
      'predict',
      path.join(images, 'a.png'),
      path.join(images, 'c.png'),
      '-m',
      model,
      '-o',
      out,
      '-t',
      '4',
      '--seed',
      '9',
      '--resume',
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /1 ok, 0 failed/);
    assert.deepEqual(
      rowsOf(path.join(out, 'scores.csv')).map((r) => r.maps),
      ['a', 'c'],
    );
    assert.deepEqual(readFileSync(path.join(out, 'a.maps.npy')), aBefore);
    const changed = await runCli(['predict', path.join(images, 'c.png'), '-m', model, '-o', out, '-t', '5', '--seed', '9', '--resume']);
    assert.equal(changed.code, 2, 'another T cannot resume');
  });

  it('shards write their own scores files into one maps folder, and merge joins them into the one-shot rows', async () => {
    const whole = path.join(dir, 'whole');
    const sharded = path.join(dir, 'sharded');
    const common = ['-m', model, '-t', '4', '--seed', '5', '-q'];
    assert.equal((await runCli(['predict', images, '-o', whole, ...common])).code, 1);
    const codes = [];
    for (const shard of ['0/2', '1/2']) codes.push((await runCli(['predict', images, '-o', sharded, '--shard', shard, ...common])).code);
    assert.deepEqual(codes, [1, 0], 'the broken image is in the first shard');
    const merged = await runCli(['merge', '-o', sharded]);
    assert.equal(merged.code, 1, merged.stderr);
    assert.match(merged.stderr, /4 rows, 3 ok, 1 failed/);
    const strip = (rows: Record<string, string>[]) => rows.map(({ maps, ...rest }) => ({ ...rest, maps }));
    assert.deepEqual(strip(rowsOf(path.join(sharded, 'scores.csv'))), strip(rowsOf(path.join(whole, 'scores.csv'))));
    for (const stem of ['a', 'c', 'sub/b'])
      assert.deepEqual(readFileSync(path.join(sharded, `${stem}.maps.npy`)), readFileSync(path.join(whole, `${stem}.maps.npy`)));
  });

  it("writes maps at each image's own size with --map-size original, and the overlay beside", async () => {
    const odd = path.join(dir, 'odd');
    await writePng(path.join(odd, 'wide.png'), noise(4, 13, 9), 13, 9);
    const out = path.join(dir, 'original');
    const r = await runCli(['predict', odd, '-m', model, '-o', out, '-t', '4', '--seed', '1', '--map-size', 'original', '--overlay', '--per-class', '-q']);
    assert.equal(r.code, 0, r.stderr);
    const label = labelPng(path.join(out, 'wide.label.png'));
    assert.deepEqual([label.width, label.height], [13, 9]);
    const probs = readNpy(path.join(out, 'wide.probs.npy'));
    assert.deepEqual(probs.shape, [CLASSES, 9, 13]);
    const overlay = await sharp(path.join(out, 'wide.overlay.png')).metadata();
    assert.deepEqual([overlay.width, overlay.height, overlay.channels], [13, 9, 3]);
  });

  it('refuses, before any work and by name, what a maps folder cannot be', async () => {
    const refused = async (args: string[], message: RegExp) => {
      const r = await runCli(['predict', ...args, '-m', model]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    };
    await refused([images], /give -o FOLDER a folder/);
    await refused([images, '-o', '-'], /give -o FOLDER a folder/);
    writeFileSync(path.join(dir, 'a-file'), 'x');
    await refused([images, '-o', path.join(dir, 'a-file')], /is not a folder/);
    await refused([images, '-o', path.join(images, 'maps')], /overlap/);
    await refused([images, '-o', path.join(dir, 'x'), '--times', 'auto'], /adaptive T/);
    const twins = path.join(dir, 'twins');
    await writePng(path.join(twins, 'same.png'), noise(1));
    await sharp(Buffer.from(noise(2)), { raw: { width: SIZE, height: SIZE, channels: 3 } })
      .jpeg()
      .toFile(path.join(twins, 'same.jpg'));
    await refused([twins, '-o', path.join(dir, 'y')], /would write the same maps \(same\.\*\)/);
    assert.ok(!existsSync(path.join(dir, 'y', 'scores.csv')));
  });

  it('evaluates against truth masks: dropout off scores 100% where the masks are the closed form, ignored pixels are left out, MC beside', async () => {
    const masks = path.join(dir, 'masks');
    for (const name of ['a.png', 'c.png', 'sub/b.png']) {
      const truth = Uint8Array.from(deterministicLabels(pixelsOf.get(name)!));
      // a.png: its first row is void (255), as VOC draws borders
      if (name === 'a.png') truth.fill(255, 0, SIZE);
      mkdirSync(path.dirname(path.join(masks, name)), { recursive: true });
      writeFileSync(path.join(masks, name), encodePng({ kind: 'gray8', width: SIZE, height: SIZE, data: truth }));
    }
    const json = path.join(dir, 'evaluation.json');
    const r = await runCli(['evaluate', images, '-m', model, '--masks', masks, '--ignore-index', '255', '-t', '8', '--seed', '2', '--json', json]);
    // broken.png has no mask: left out with a warning, not a failure
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /1 image has no mask/);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(report.kind, 'segmentation');
    assert.deepEqual(report.counts, { images: 4, evaluated: 3, without_mask: 1, failed: 0 });
    assert.equal(report.deterministic.pixels, 3 * SIZE * SIZE - SIZE);
    assert.equal(report.deterministic.ignored, SIZE);
    assert.equal(report.deterministic.pixelAccuracy, 1);
    assert.equal(report.deterministic.meanIou, 1);
    assert.ok(report.mc.pixelAccuracy < 1 && report.mc.pixelAccuracy > 0.3, `MC pixel accuracy ${report.mc.pixelAccuracy}`);
    assert.match(r.stdout, /pixel accuracy\s+100\.00%/);
    assert.match(r.stdout, /mean IoU/);
    const without = await runCli(['evaluate', images, '-m', model, '--masks', masks, '-t', '2', '--seed', '2']);
    assert.equal(without.code, 1, 'a void value that is not ignored fails that image');
    assert.match(without.stderr, /truth value 255/);
  });

  it('report shows the pixel metrics and the most uncertain images beside their maps', async () => {
    const html = path.join(dir, 'report.html');
    const r = await runCli([
      'report',
      images,
      '-m',
      model,
      '--masks',
      path.join(dir, 'masks'),
      '--ignore-index',
      '255',
      '-t',
      '8',
      '--seed',
      '2',
      '-o',
      html,
      '-q',
    ]);
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
    const page = readFileSync(html, 'utf8');
    assert.match(page, /Pixel metrics/);
    assert.equal((page.match(/<div class="maps">/g) ?? []).length, 3);
    assert.equal((page.match(/data:image\/png;base64/g) ?? []).length, 9);
  });

  it('select ranks the images of a maps folder by their mean mutual information; inspect says the model segments', async () => {
    const out = path.join(dir, 'maps');
    const rows = rowsOf(path.join(out, 'scores.csv')).filter((row) => row.status === 'ok');
    const r = await runCli(['select', path.join(out, 'scores.csv'), '--by', 'mutual_information', '-n', '2']);
    assert.equal(r.code, 0, r.stderr);
    const picks = r.stdout.trim().split('\n');
    const expected = [...rows]
      .sort((a, b) => Number(b.mutual_information) - Number(a.mutual_information))
      .slice(0, 2)
      .map((row) => row.path);
    assert.deepEqual(picks, expected);
    const inspect = await runCli(['inspect', model]);
    assert.match(inspect.stdout, /segmentation: output is a class-score map, 4 classes at 8x8 \(NCHW\)/);
  });

  it('a run killed with SIGKILL leaves no map half-written under its name; --resume finishes it, the maps equal a run never killed', async () => {
    const many = path.join(dir, 'many');
    for (let i = 0; i < 40; i++) await writePng(path.join(many, `img-${String(i).padStart(2, '0')}.png`), noise(100 + i));
    const args = (out: string) => ['predict', many, '-m', model, '-o', out, '-t', '30', '--seed', '6', '-b', '1', '--no-progress'];
    const killed = path.join(dir, 'killed');
    await new Promise<void>((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args(killed)]);
      const timer = setInterval(() => {
        const partial = path.join(killed, 'scores.csv.partial');
        if (existsSync(partial) && readFileSync(partial, 'utf8').split('\n').length > 4) {
          clearInterval(timer);
          child.kill('SIGKILL');
        }
      }, 2);
      child.on('close', () => {
        clearInterval(timer);
        resolve();
      });
    });
    assert.ok(!existsSync(path.join(killed, 'scores.csv')), 'a killed run has no finished scores file');
    // every map under its final name is whole: it decodes
    const finals = readdirSync(killed).filter((f) => /\.(label|confidence|entropy|mi)\.png$/.test(f));
    assert.ok(finals.length > 0);
    for (const f of finals) labelPng(path.join(killed, f));
    const resumed = await runCli([...args(killed), '-q', '--resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    const whole = path.join(dir, 'never-killed');
    assert.equal((await runCli([...args(whole), '-q'])).code, 0);
    assert.deepEqual(
      rowsOf(path.join(killed, 'scores.csv')).map((r) => r.maps),
      rowsOf(path.join(whole, 'scores.csv')).map((r) => r.maps),
    );
    for (const f of readdirSync(whole).filter((name) => !name.startsWith('scores.'))) {
      assert.deepEqual(readFileSync(path.join(killed, f)), readFileSync(path.join(whole, f)), f);
    }
  });

  it('refuses what a hostile trial found: a mask as an output, two settings into one maps folder, a maps folder in the inputs through a link; a FIFO is an error row, never read', async () => {
    const masks = path.join(dir, 'masks');
    const before = readFileSync(path.join(masks, 'a.png'));
    const asOutput = await runCli(['evaluate', images, '-m', model, '--masks', masks, '--ignore-index', '255', '-t', '2', '--json', path.join(masks, 'a.png')]);
    assert.equal(asOutput.code, 2, asOutput.stderr);
    assert.match(asOutput.stderr, /a truth mask/);
    assert.deepEqual(readFileSync(path.join(masks, 'a.png')), before);

    const shared = path.join(dir, 'shared');
    assert.equal((await runCli(['predict', path.join(images, 'a.png'), '-m', model, '-o', shared, '-t', '3', '--seed', '1', '-q'])).code, 0);
    const other = await runCli(['predict', path.join(images, 'a.png'), '-m', model, '-o', shared, '-t', '3', '--seed', '2', '-f', 'jsonl', '-q']);
    assert.equal(other.code, 2, other.stderr);
    assert.match(other.stderr, /holds the maps of another run \(its seed is 1, this run's 2\)/);
    assert.ok(!existsSync(path.join(shared, 'scores.jsonl')));

    const link = path.join(dir, 'images-link');
    symlinkSync(images, link);
    const inside = await runCli(['predict', link, '-m', model, '-o', path.join(images, 'new-maps'), '-q']);
    assert.equal(inside.code, 2, inside.stderr);
    assert.match(inside.stderr, /overlap/);
    assert.ok(!existsSync(path.join(images, 'new-maps')), 'a refused maps folder is not made');

    const fifo = path.join(dir, 'fifo.png');
    execFileSync('mkfifo', [fifo]);
    const r = await runCli(['predict', fifo, path.join(images, 'c.png'), '-m', model, '-o', path.join(dir, 'fifo-maps'), '-q']);
    assert.equal(r.code, 1, r.stderr);
    const rows = rowsOf(path.join(dir, 'fifo-maps', 'scores.csv'));
    assert.deepEqual(
      rows.map((row) => row.status),
      ['error', 'ok'],
    );
    assert.match(rows[0]!.error!, /not a regular file \(a FIFO\)/);
  });

  it("fails an image whose mask is neither at its own size nor the maps' (a rotated mask), naming both sizes", async () => {
    const odd = path.join(dir, 'tall');
    await writePng(path.join(odd, 'wide.png'), noise(4, 13, 9), 13, 9);
    const masks = path.join(dir, 'tall-masks');
    mkdirSync(masks, { recursive: true });
    writeFileSync(path.join(masks, 'wide.png'), encodePng({ kind: 'gray8', width: 9, height: 13, data: new Uint8Array(9 * 13) }));
    const r = await runCli(['evaluate', odd, '-m', model, '--masks', masks, '-t', '2']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /the mask is 9x13 \(width x height\), the image 13x9 upright and the maps 8x8/);
    assert.match(r.stderr, /none of the 1 images with a mask could be evaluated/);
  });
  it('refuses, with CSV rows, a name with raw bytes beside a valid name spelled as its escape, before writing any row or map', async () => {
    const clash = path.join(dir, 'clash');
    mkdirSync(clash);
    await writePng(path.join(clash, 'm\\xe9.png'), noise(4));
    writeFileSync(Buffer.concat([Buffer.from(`${clash}/m`), Buffer.from([0xe9]), Buffer.from('.png')]), readFileSync(path.join(clash, 'm\\xe9.png')));
    const out = path.join(dir, 'clash-maps');
    const r = await runCli(['predict', clash, '-m', model, '-o', out, '--deterministic', '-q']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /Two inputs would have the same path cell in a CSV: .*m\\xe9\.png, a name that is not UTF-8/);
    assert.deepEqual(readdirSync(out), [], 'no scores file and no map written (the folder is made before the inputs are walked)');
  });
});
