/**
 * Exit 0 means right for the files mc-dropout reads back (issue #34): calibrations, a passes
 * file's .run.json, truth CSVs, inputs named twice, outputs that name an input, and resumed runs,
 * each through the real binary: the exit code, a key phrase of the message, no rows on a refusal
 * and every input left byte for byte as it was.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { BIN, ROOT, runCli, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

const CPU = ['--device', 'cpu'];
const FIVE = ['bag-18.png', 'coat-10.png', 'ankle-boot-0.png', 'ankle-boot-23.png', 'ankle-boot-28.png'].map((f) => `fixtures/samples/${f}`);
const TRUTH = 'fixtures/samples.csv';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const rows = (csv: string) => parse<Record<string, string>>(csv, { columns: true });

describe('calibrations read back: every field checked, infinite thresholds kept', () => {
  let folder: string;
  let calibration: string;
  let few: string;

  before(async () => {
    folder = tempDir();
    calibration = path.join(folder, 'cal.json');
    few = path.join(folder, 'few.json');
    const made = await runCli(['calibrate', 'fixtures/samples', '--truth', TRUTH, '-t', '2', '--seed', '1', ...CPU, '-q', '-o', calibration]);
    assert.equal(made.code, 0, made.stderr);
    const small = await runCli(['calibrate', ...FIVE, '--truth', TRUTH, '-t', '2', '--seed', '1', ...CPU, '-o', few]);
    assert.equal(small.code, 0, small.stderr);
    assert.match(
      small.stderr,
      /5 calibration images are too few for alpha 0\.1 \(it needs at least 9\): the threshold is infinite, so every prediction set holds every class/,
    );
  });

  it('too few images for alpha: the threshold stays infinite in the file, every set holds every class, coverage is 1', async () => {
    const file = JSON.parse(readFileSync(few, 'utf8'));
    assert.equal(file.conformal.threshold, 'Infinity');
    const predicted = await runCli(['predict', ...FIVE, '-t', '2', ...CPU, '-q', '--calibration', few]);
    assert.equal(predicted.code, 0, predicted.stderr);
    assert.deepEqual(
      rows(predicted.stdout).map((r) => r.set_size),
      ['10', '10', '10', '10', '10'],
    );
    const evaluated = await runCli(['evaluate', ...FIVE, '--truth', TRUTH, '-t', '2', ...CPU, '-q', '--calibration', few, '--json', '-']);
    assert.equal(evaluated.code, 0, evaluated.stderr);
    const sets = JSON.parse(evaluated.stdout).calibration.sets;
    assert.deepEqual([sets.coverage, sets.mean_size, sets.empty], [1, 10, 0]);
  });

  it('a damaged or hand-edited calibration is refused (exit 2) naming the field, before any row, and is left as it was', async () => {
    const good = JSON.parse(readFileSync(calibration, 'utf8'));
    const cases: [string, (c: Record<string, any>) => void, RegExp][] = [
      ['threshold "abc"', (c) => (c.conformal.threshold = 'abc'), /the field "conformal\.threshold" must be a number or "Infinity" but is "abc"/],
      ['threshold null', (c) => (c.conformal.threshold = null), /"conformal\.threshold" is null/],
      ['per_class of 9', (c) => c.conformal.per_class.pop(), /"conformal\.per_class" has 9 entries for 10 classes/],
      [
        'k_reg spelled kReg',
        (c) => ((c.conformal.kReg = c.conformal.k_reg), delete c.conformal.k_reg),
        /the field "conformal\.k_reg" must be an integer >= 0 but is missing/,
      ],
      ['model null', (c) => (c.model = null), /the field "model" must be an object but is null/],
      ['no conformal', (c) => delete c.conformal, /the field "conformal" must be an object but is missing/],
      ['no preprocess', (c) => delete c.preprocess, /the field "preprocess" must be an object but is missing/],
      ['temperature NaN', (c) => (c.temperature = 'NaN'), /the field "temperature" must be a number >= 0\.05 <= 20 but is "NaN"/],
      ['temperature edited', (c) => (c.temperature = 2), /its content no longer matches its "sha256": the file was changed after calibrate wrote it/],
      ['a score edited', (c) => (c.conformal.scores[0] = 0), /content no longer matches its "sha256"/],
    ];
    for (const [name, edit, message] of cases) {
      const file = path.join(folder, 'edited.json');
      const copy = structuredClone(good);
      edit(copy);
      writeFileSync(file, JSON.stringify(copy));
      const before = sha256(file);
      const run = await runCli(['predict', FIVE[0]!, '-t', '2', ...CPU, '-q', '--calibration', file]);
      assert.equal(run.code, 2, `${name}: ${run.stderr}`);
      assert.match(run.stderr, /Cannot (read|use) the calibration .*edited\.json: /, name);
      assert.match(run.stderr, message, name);
      assert.equal(run.stdout, '', `${name}: no rows`);
      assert.equal(sha256(file), before, `${name}: the file is left as it was`);
    }
  });

  it('a calibration of format 1 (camelCase keys, thresholds as null, no per-score classes, no digest) is still read, with the same sets', async () => {
    const v2 = JSON.parse(readFileSync(few, 'utf8'));
    const { k_reg, class_conditional, per_class, score_classes: _, ...conformal } = v2.conformal;
    const p = v2.preprocess;
    // format 1 as the previous release wrote it, keys by hand
    const v1 = {
      tool: v2.tool,
      version: v2.version,
      format: 'mc-dropout calibration 1',
      model: v2.model,
      preprocess: {
        height: p.height, width: p.width, layout: p.layout, channelOrder: p.channel_order, mean: p.mean, std: p.std,
        resize: p.resize, interpolation: p.interpolation, cropFraction: p.crop_fraction, alpha: p.alpha,
        background: p.background, resizeEngine: p.resize_engine, colourProfile: p.color_profile,
      }, // prettier-ignore
      passes: v2.passes,
      seed: v2.seed,
      dropoutRates: v2.dropout_rates,
      images: v2.images,
      temperature: v2.temperature,
      before: v2.before,
      after: v2.after,
      conformal: {
        ...conformal,
        kReg: k_reg,
        classConditional: class_conditional,
        threshold: null,
        perClass: per_class.map((t: number | string) => (t === 'Infinity' ? null : t)),
      },
    };
    const old = path.join(folder, 'format1.json');
    writeFileSync(old, JSON.stringify(v1, null, 2));
    const [a, b] = (await Promise.all([few, old].map((c) => runCli(['predict', ...FIVE, '-t', '2', '--seed', '4', ...CPU, '-q', '--calibration', c])))) as [
      CliResult,
      CliResult,
    ];
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, a.stdout);
    // a format 1 file carries no digest: said, not silently trusted; a digest added to one is checked
    const warned = await runCli(['predict', FIVE[0]!, '-t', '2', ...CPU, '--calibration', old]);
    assert.match(warned.stderr, /written by an earlier release \(mc-dropout calibration 1\) without a digest of its content/);
    writeFileSync(old, JSON.stringify({ ...v1, temperature: v1.temperature * 1.1, sha256: v2.sha256 }, null, 2));
    const forged = await runCli(['predict', FIVE[0]!, '-t', '2', ...CPU, '-q', '--calibration', old]);
    assert.equal(forged.code, 2, forged.stderr);
    assert.match(forged.stderr, /its content no longer matches its "sha256"/);
    writeFileSync(old, JSON.stringify(v1, null, 2));
    // a damaged format 1 file is refused naming the field as that file spells it
    v1.conformal.perClass.pop();
    writeFileSync(old, JSON.stringify(v1, null, 2));
    const damaged = await runCli(['predict', FIVE[0]!, '-t', '2', ...CPU, '-q', '--calibration', old]);
    assert.equal(damaged.code, 2, damaged.stderr);
    assert.match(damaged.stderr, /"conformal\.perClass" has 9 entries for 10 classes/);
  });

  it('the calibration named as an output of the run is refused (exit 2) and left as it was', async () => {
    const before = sha256(calibration);
    for (const flag of ['-o', '--meta', '--save-passes']) {
      const run = await runCli(['predict', FIVE[0]!, '-t', '2', ...CPU, '-q', '--calibration', calibration, flag, calibration]);
      assert.equal(run.code, 2, `${flag}: ${run.stderr}`);
      assert.match(run.stderr, /cal\.json is the calibration and also .*writing it would destroy it/, flag);
      assert.equal(sha256(calibration), before, flag);
    }
  });

  it('a device, a folder or a FIFO as the calibration is refused at once, never read', async () => {
    const fifo = path.join(folder, 'pipe');
    await new Promise((resolve) => spawn('mkfifo', [fifo]).on('close', resolve));
    for (const [file, kind] of [
      ['/dev/zero', 'a device'],
      [folder, 'a folder'],
      [fifo, 'a FIFO'],
    ]) {
      const run = await runCli(['predict', FIVE[0]!, '-t', '2', ...CPU, '-q', '--calibration', file!]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, new RegExp(`Cannot read the calibration .*: it is ${kind}`));
    }
  });

  it("per-class (Mondrian) sets: the coverage curve uses each class's threshold, so at the file's own alpha it equals the headline coverage", async () => {
    const mondrian = path.join(folder, 'mondrian.json');
    // the same labelled images, T and seed for both
    const labelled = ['fixtures/samples', '--truth', TRUTH, '-t', '2', '--seed', '1', ...CPU, '-q'];
    const made = await runCli(['calibrate', ...labelled, '--class-conditional', '--miscoverage', '0.2', '-o', mondrian]);
    assert.equal(made.code, 0, made.stderr);
    const evaluated = await runCli(['evaluate', ...labelled, '--calibration', mondrian, '--json', '-']);
    assert.equal(evaluated.code, 0, evaluated.stderr);
    const c = JSON.parse(evaluated.stdout).calibration;
    const own = c.by_alpha.find((p: { alpha: number }) => p.alpha === 0.2);
    assert.equal(own.coverage, c.sets.coverage);
    assert.equal(own.mean_size, c.sets.mean_size);
  });
});

describe('saved runs, truth files and inputs counted once', () => {
  it('a passes file whose .run.json is {} or damaged is refused (exit 2) naming the field, by calibrate and evaluate', async () => {
    const folder = tempDir();
    const npy = path.join(folder, 'passes.npy');
    const run = await runCli(['predict', ...FIVE, '-t', '2', ...CPU, '-q', '-o', path.join(folder, 'run.csv'), '--save-passes', npy]);
    assert.equal(run.code, 0, run.stderr);
    const good = JSON.parse(readFileSync(`${npy}.run.json`, 'utf8'));
    for (const [content, message] of [
      ['{}', /the field "model_sha256" must be a SHA-256 \(64 hex digits\) but is missing/],
      [JSON.stringify({ ...good, passes: 'many' }), /the field "passes" must be an integer in \[1, 100000\] or "auto" but is "many"/],
      [JSON.stringify({ ...good, labels: good.labels.slice(1) }), /lists 9 labels for 10 classes/],
      [JSON.stringify({ ...good, preprocess: { ...good.preprocess, std: [0, 1, 1] } }), /the field "preprocess\.std\[0\]" must be a number > 0 but is 0/],
    ] as const) {
      writeFileSync(`${npy}.run.json`, content);
      for (const command of [
        ['calibrate', '--from', npy, '--truth', TRUTH, '-q', '-o', path.join(folder, 'c.json')],
        ['evaluate', '--from', npy, '--truth', TRUTH, '--calibration', path.join(ROOT, 'package.json')],
      ]) {
        const refused = await runCli(command);
        assert.equal(refused.code, 2, refused.stderr);
        if (command[0] === 'calibrate') assert.match(refused.stderr, message);
        assert.equal(existsSync(path.join(folder, 'c.json')), false);
      }
    }
  });

  it('an image named twice (or under two spellings) is read once, with a warning: calibrate counts 5 images, not 7', async () => {
    const folder = tempDir();
    const out = path.join(folder, 'cal.json');
    const run = await runCli(['calibrate', ...FIVE, FIVE[0]!, `./${FIVE[1]}`, '--truth', TRUTH, '-t', '2', ...CPU, '-o', out]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /2 inputs name an image already given \(fixtures\/samples\/bag-18\.png is fixtures\/samples\/bag-18\.png; \.\/fixtures\/samples\/coat-10\.png is fixtures\/samples\/coat-10\.png\): each image is read once/,
    );
    assert.equal(JSON.parse(readFileSync(out, 'utf8')).images, 5);
    const predicted = await runCli(['predict', FIVE[0]!, FIVE[0]!, '-t', '2', ...CPU]);
    assert.equal(rows(predicted.stdout).length, 1);
  });

  it('a truth CSV naming one image as two classes is refused naming both lines; a byte-order mark is skipped', async () => {
    const folder = tempDir();
    const conflicting = path.join(folder, 'truth.csv');
    writeFileSync(
      conflicting,
      `path,label\n${path.resolve(ROOT, FIVE[0]!)},Bag\n${path.resolve(ROOT, FIVE[1]!)},Coat\n${path.resolve(ROOT, FIVE[0]!)},Shirt\n`,
    );
    const refused = await runCli(['evaluate', ...FIVE.slice(0, 2), '--truth', conflicting, '-t', '2', ...CPU, '-q']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /truth\.csv gives ".*bag-18\.png" two true classes: "Bag" on line 2 and "Shirt" on line 4; keep one/);
    const labels = ['Bag', 'Coat', 'Ankle boot', 'Ankle boot', 'Ankle boot'];
    const csv = `path,label\r\n${FIVE.map((f, i) => `${path.resolve(ROOT, f)},${labels[i]}`).join('\r\n')}\r\n`;
    const [plainFile, bomFile] = [path.join(folder, 'plain.csv'), path.join(folder, 'bom.csv')];
    writeFileSync(plainFile, csv);
    writeFileSync(bomFile, `\uFEFF${csv}`);
    const [plain, withBom] = (await Promise.all(
      [plainFile, bomFile].map((t) => runCli(['evaluate', ...FIVE, '--truth', t, '-t', '2', '--seed', '3', ...CPU, '-q', '--json', '-'])),
    )) as [CliResult, CliResult];
    assert.equal(withBom.code, 0, withBom.stderr);
    assert.equal(JSON.parse(withBom.stdout).counts.labeled, 5);
    assert.deepEqual(JSON.parse(withBom.stdout).numbers, JSON.parse(plain.stdout).numbers);
  });
});

describe('what a hostile trial found (#34)', () => {
  it('the calibration from standard input: read once, its digest recorded; the list and the calibration both from stdin are refused', async () => {
    const folder = tempDir();
    const cal = path.join(folder, 'cal.json');
    assert.equal((await runCli(['calibrate', ...FIVE, '--truth', TRUTH, '-t', '2', ...CPU, '-q', '-o', cal])).code, 0);
    const out = path.join(folder, 'out.csv');
    const piped = await runCli(['predict', FIVE[0]!, '-t', '2', ...CPU, '-q', '--calibration', '-', '-o', out], { input: readFileSync(cal, 'utf8') });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(JSON.parse(readFileSync(`${out}.meta.json`, 'utf8')).settings.calibration_sha256, sha256(cal));
    const twice = await runCli(['predict', '--list', '-', '--calibration', '-', ...CPU, '-q'], { input: FIVE[0]! });
    assert.equal(twice.code, 2, twice.stderr);
    assert.match(twice.stderr, /the list of inputs and the calibration both read standard input \(-\), which can be read once/);
  });

  it('a calibration whose digest was recomputed after an edit is still refused when a value is outside what calibrate writes', async () => {
    const folder = tempDir();
    const cal = path.join(folder, 'cal.json');
    assert.equal((await runCli(['calibrate', ...FIVE, '--truth', TRUTH, '-t', '2', ...CPU, '-q', '-o', cal])).code, 0);
    const { contentSha256 } = await import('../../src/io/schema.js');
    for (const [edit, message] of [
      [(c: Record<string, any>) => (c.temperature = 1e308), /the field "temperature" must be a number >= 0\.05 <= 20 but is 1e\+308/],
      [(c: Record<string, any>) => (c.seed = 1e308), /the field "seed" must be an integer >= 0 <= 9007199254740991/],
      [(c: Record<string, any>) => (c.before.nll = -1), /the field "before\.nll" must be a number >= 0 but is -1/],
    ] as const) {
      const c = JSON.parse(readFileSync(cal, 'utf8'));
      edit(c);
      delete c.sha256;
      writeFileSync(cal + '.edited', JSON.stringify({ ...c, sha256: contentSha256(c) }));
      const run = await runCli(['predict', FIVE[0]!, '-t', '2', ...CPU, '-q', '--calibration', cal + '.edited']);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
    }
  });

  it('passes of another run under a record, or edited paths, are refused by calibrate, evaluate and select', async () => {
    const folder = tempDir();
    const [four, five] = [path.join(folder, 'r4.npy'), path.join(folder, 'r5.npy')];
    for (const [npy, t, seed] of [
      [four, '4', '1'],
      [five, '5', '2'],
    ] as const)
      assert.equal((await runCli(['predict', ...FIVE, '-t', t, '--seed', seed, ...CPU, '-q', '-o', `${npy}.csv`, '--save-passes', npy])).code, 0);
    writeFileSync(five, readFileSync(four));
    for (const command of [
      ['calibrate', '--from', five, '--truth', TRUTH, '-q', '-o', path.join(folder, 'c.json')],
      ['evaluate', '--from', five, '--truth', TRUTH],
      ['select', five, '-n', '2'],
    ]) {
      const run = await runCli(command);
      assert.equal(run.code, 2, `${command[0]}: ${run.stderr}`);
      assert.match(run.stderr, /r5\.npy does not match its record .*r5\.npy\.run\.json: it holds 4 passes per image, the record says T=5/);
    }
    const paths = JSON.parse(readFileSync(`${four}.paths.json`, 'utf8'));
    writeFileSync(`${four}.paths.json`, JSON.stringify([...paths].reverse()));
    const reordered = await runCli(['calibrate', '--from', four, '--truth', TRUTH, '-q', '-o', path.join(folder, 'c.json')]);
    assert.equal(reordered.code, 2, reordered.stderr);
    assert.match(reordered.stderr, /r4\.npy\.paths\.json was changed after the run/);
    assert.equal(existsSync(path.join(folder, 'c.json')), false);
  });

  it('one image under two spellings counts once: select refuses it, a truth CSV naming a link and its file as two classes is refused, --ood may not repeat the evaluated images', async () => {
    const folder = tempDir();
    const image = path.join(folder, 'a.png');
    writeFileSync(image, readFileSync(path.join(ROOT, FIVE[0]!)));
    const { symlinkSync } = await import('node:fs');
    symlinkSync(image, path.join(folder, 'link.png'));
    const run = await runCli(['predict', image, ...CPU, '-t', '2', '-q']);
    const [header, row] = run.stdout.trim().split('\n');
    writeFileSync(path.join(folder, 'joined.csv'), `${header}\n${row}\n${row!.replace(image, path.join(folder, 'link.png'))}\n`);
    const selected = await runCli(['select', path.join(folder, 'joined.csv'), '-n', '2']);
    assert.equal(selected.code, 2, selected.stderr);
    assert.match(selected.stderr, /lists one image twice \(.*a\.png in record 1, .*link\.png in record 2\)/);
    writeFileSync(path.join(folder, 'truth.csv'), `path,label\n${image},Bag\n${path.join(folder, 'link.png')},Coat\n`);
    const conflict = await runCli(['evaluate', image, '--truth', path.join(folder, 'truth.csv'), '-t', '2', ...CPU, '-q']);
    assert.equal(conflict.code, 2, conflict.stderr);
    assert.match(conflict.stderr, /two true classes: "Bag" on line 2 and "Coat" on line 3/);
    const ood = await runCli(['evaluate', ...FIVE, '--truth', TRUTH, '-t', '2', ...CPU, '-q', '--ood', FIVE[1]!]);
    assert.equal(ood.code, 2, ood.stderr);
    assert.match(ood.stderr, /coat-10\.png is an out-of-distribution image \(--ood\) and also an evaluated image/);
  });

  it('--resume: an image already done under another spelling is not done twice; edited settings and other columns are refused', async () => {
    const folder = tempDir();
    const out = path.join(folder, 'out.csv');
    const absolute = path.join(ROOT, FIVE[0]!);
    const first = await runCli(['predict', absolute, ...CPU, '-t', '2', '--seed', '1', '-q', '-o', out]);
    assert.equal(first.code, 0, first.stderr);
    const again = await runCli(['predict', FIVE[0]!, FIVE[1]!, ...CPU, '-t', '2', '--seed', '1', '-q', '-o', out, '--resume']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(rows(readFileSync(out, 'utf8')).length, 2);
    // a .partial whose settings were edited by hand
    const resume = ['predict', FIVE[0]!, ...CPU, '-t', '2', '--seed', '1', '-q', '-o', out, '--resume'];
    writeFileSync(`${out}.partial`, readFileSync(out));
    const settings = JSON.parse(readFileSync(`${out}.meta.json`, 'utf8')).settings;
    const { contentSha256 } = await import('../../src/io/schema.js');
    writeFileSync(`${out}.partial.json`, JSON.stringify({ ...settings, topk: 2, sha256: contentSha256(settings) }));
    const edited = await runCli([...resume, '-k', '2']);
    assert.equal(edited.code, 2, edited.stderr);
    assert.match(edited.stderr, /out\.csv\.partial\.json was changed after its run wrote it/);
    // rows of other columns than this run writes (the .partial's header edited): refused, not a ragged file
    writeFileSync(`${out}.partial.json`, JSON.stringify({ ...settings, sha256: contentSha256(settings) }));
    writeFileSync(`${out}.partial`, readFileSync(out, 'utf8').replace('path,label,', 'path,label,extra,'));
    const columns = await runCli(resume);
    assert.equal(columns.code, 2, columns.stderr);
    assert.match(columns.stderr, /its columns differ from this run's/);
  });

  it('a text file that is not CSV, and passes that are not probabilities, are usage errors (exit 2), not internal ones', async () => {
    const folder = tempDir();
    writeFileSync(path.join(folder, 'g.txt'), 'hello "world\n');
    for (const command of [
      ['evaluate', '--from', path.join(folder, 'g.txt')],
      ['report', '--from', path.join(folder, 'g.txt'), '-o', path.join(folder, 'r.html')],
    ]) {
      const run = await runCli(command);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /g\.txt is not a predict output \(Invalid Opening Quote/);
    }
    const npy = path.join(folder, 'p.npy');
    assert.equal((await runCli(['predict', ...FIVE, '-t', '2', ...CPU, '-q', '-o', `${npy}.csv`, '--save-passes', npy])).code, 0);
    const bytes = readFileSync(npy);
    bytes.writeFloatLE(-0.5, bytes.length - 4);
    writeFileSync(npy, bytes);
    rmSync(`${npy}.run.json`);
    const negative = await runCli(['select', npy, '-n', '1']);
    assert.equal(negative.code, 2, negative.stderr);
    assert.match(negative.stderr, /pass 1 of image 4 is not a probability distribution/);
  });

  it('evaluate --plots naming a file is refused before the run', async () => {
    const file = path.join(tempDir(), 'plots');
    writeFileSync(file, 'x');
    const run = await runCli(['evaluate', ...FIVE, '--truth', TRUTH, '-t', '2', ...CPU, '-q', '--plots', file]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /--plots .*plots is not a folder/);
    assert.equal(run.stdout, '');
  });
});

describe('--resume compares the settings both ways', () => {
  it('a run killed with --calibration and resumed without it is refused, naming the setting; the finished rows stay', async () => {
    const folder = tempDir();
    const cal = path.join(folder, 'cal.json');
    assert.equal((await runCli(['calibrate', ...FIVE, '--truth', TRUTH, '-t', '2', ...CPU, '-q', '-o', cal])).code, 0);
    const args = ['predict', 'fixtures/samples', '-t', '50', '-b', '1', '--seed', '5', ...CPU, '-q', '-o', path.join(folder, 'out.csv')];
    const partial = path.join(folder, 'out.csv.partial');
    await new Promise<void>((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args, '--calibration', cal], { cwd: ROOT, stdio: 'ignore' });
      const timer = setInterval(() => {
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
    const saved = sha256(partial);
    const without = await runCli([...args, '--resume']);
    assert.equal(without.code, 2, without.stderr);
    assert.match(without.stderr, /settings differ from the earlier run \(calibration_sha256: earlier "[0-9a-f]{64}", now \(not set\)\)/);
    assert.equal(sha256(partial), saved, 'the finished rows are kept as they were');
    const resumed = await runCli([...args, '--calibration', cal, '--resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    const done = rows(readFileSync(path.join(folder, 'out.csv'), 'utf8'));
    assert.equal(done.length, 50);
    assert.ok(done.every((r) => r.set_size !== undefined && r.set_size !== ''));
  });
});
