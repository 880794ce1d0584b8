import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { BIN, ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { keysNotSnakeCase } from '../helpers/json-keys.js';

type Row = Record<string, string>;
const readCsv = (text: string): Row[] => parse<Row>(text, { columns: true });
const truth = new Map(
  parse<Row>(readFileSync(path.join(ROOT, 'fixtures', 'samples.csv'), 'utf8'), { columns: true }).map((r) => [`fixtures/${r.file}`, r.label!]),
);

describe('mc-dropout predict (real binary, bundled model)', () => {
  it('quick start: one CSV row per sample, labels at the model card accuracy', async () => {
    const { code, stdout, stderr } = await runCli(['predict', 'fixtures/samples', '--times', '10', '--seed', '1', '--device', 'cpu']);
    assert.equal(code, 0, stderr);
    const rows = readCsv(stdout);
    assert.equal(rows.length, truth.size);
    for (const row of rows) {
      assert.equal(row.status, 'ok');
      assert.ok(truth.has(row.path!), `unexpected path ${row.path}`);
      assert.ok(Number(row.confidence) > 0 && Number(row.confidence) <= 1);
      assert.ok(Number(row.mutual_information) >= 0);
    }
    const correct = rows.filter((r) => truth.get(r.path!) === r.label).length;
    // model card: ~92% on the 10,000 test images; 4 binomial sigmas below that for 50 images is ~0.80
    assert.ok(correct / rows.length >= 0.8, `accuracy ${correct}/${rows.length}`);
    assert.match(stderr, /50 ok, 0 failed .* T=10, provider cpu, seed 1/);
  });

  it('keeps commas, quotes and unicode in file names intact, and writes error rows for bad files (exit 1)', async () => {
    const { code, stdout, stderr } = await runCli(['predict', 'fixtures/odd', 'fixtures/bad', '-t', '3', '--seed', '2', '--device', 'cpu']);
    assert.equal(code, 1, stderr);
    const rows = readCsv(stdout);
    const paths = rows.map((r) => r.path);
    assert.ok(paths.includes('fixtures/odd/comma, "quote" and space.png'));
    assert.ok(paths.includes('fixtures/odd/ünïcødé-画像.png'));
    const errors = rows.filter((r) => r.status === 'error');
    assert.deepEqual(errors.map((r) => path.basename(r.path!)).sort(), ['bomb-60000x60000.png', 'text.png', 'truncated.jpg', 'zero-byte.jpg']);
    // short reasons that depend on the file alone
    assert.deepEqual(Object.fromEntries(errors.map((r) => [path.basename(r.path!), r.error])), {
      'bomb-60000x60000.png': 'image larger than the pixel limit (3600000000 > 100000000 pixels)',
      'text.png': 'not an image',
      'truncated.jpg': 'truncated image',
      'zero-byte.jpg': 'empty file',
    });
    // rgb.png and the link to it are one image: read once, under the first name, with a warning
    const good = readdirSync(path.join(ROOT, 'fixtures', 'odd')).filter((f) => f !== 'loop' && f !== 'rgb.png');
    assert.equal(rows.filter((r) => r.status === 'ok').length, good.length);
    assert.match(stderr, /1 input names an image already given \(fixtures\/odd\/rgb\.png is fixtures\/odd\/link-to-rgb\.png\): each image is read once/);
    assert.match(stderr, /\d+ ok, 4 failed/);
  });

  it('usage errors exit 2 and name the option', async () => {
    const cases: [string[], RegExp][] = [
      [['predict', 'fixtures/samples', '--times', '0'], /--times.*Expected an integer in \[1, 100000\] but received '0'/],
      [['predict', 'fixtures/samples', '--format', 'xml'], /--format.*Expected one of csv, jsonl but received 'xml'/],
      [['predict', 'fixtures/samples', '--dropout-rate', '1.5'], /--dropout-rate.*Expected a number in \[0, 1\) but received '1.5'/],
      [['predict'], /No input: pass image files or folders, or a list of paths/],
      [['predict', 'fixtures/samples', '--bogus'], /unknown option '--bogus'/],
    ];
    for (const [args, pattern] of cases) {
      const { code, stderr, stdout } = await runCli(args);
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, pattern);
      assert.equal(stdout, '');
    }
  });

  it('a missing or broken model exits 3 naming the file', async () => {
    const missing = await runCli(['predict', 'fixtures/samples', '--model', 'nope.onnx']);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /Cannot read model nope.onnx: no such file/);
    const broken = await runCli(['predict', 'fixtures/samples', '--model', 'fixtures/samples.csv']);
    assert.equal(broken.code, 3);
    assert.match(broken.stderr, /fixtures\/samples.csv is not an ONNX model/);
  });

  it('--list reads paths from a file or stdin; JSONL carries per-class vectors', async () => {
    const list = ['fixtures/samples/bag-34.jpg', 'fixtures/samples/trouser-2.png'].join('\n');
    const { code, stdout } = await runCli(['predict', '--list', '-', '-f', 'jsonl', '--per-class', '--seed', '3', '--device', 'cpu', '-q'], { input: list });
    assert.equal(code, 0);
    const records = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      records.map((r) => r.path),
      ['fixtures/samples/bag-34.jpg', 'fixtures/samples/trouser-2.png'],
    );
    for (const record of records) {
      assert.equal((record.mean as number[]).length, 10);
      assert.equal((record.std as number[]).length, 10);
      assert.ok(Math.abs((record.mean as number[]).reduce((a, b) => a + b, 0) - 1) < 1e-4);
    }
  });

  it('a reader that closes the pipe early (| head) ends the run quietly', async () => {
    const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve) => {
      // pipefail: the status is mc-dropout's, not head's
      const child = spawn('bash', ['-c', `set -o pipefail; ${process.execPath} ${BIN} predict fixtures/samples -t 3 --seed 1 --device cpu | head -2`], {
        cwd: ROOT,
      });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('close', (status) => resolve({ stdout: out, stderr: err, code: status }));
    });
    assert.equal(code, 141, 'mc-dropout exits 128 + SIGPIPE when its reader goes away');
    assert.equal(stdout.trim().split('\n').length, 2);
    assert.doesNotMatch(stderr, /EPIPE|Error:/);
  });

  it("onnxruntime's telemetry is off unless the user sets ORT_DISABLE_TELEMETRY (it keeps its store in the cache folder)", async () => {
    const args = ['predict', 'fixtures/samples/bag-34.jpg', '--seed', '1', '--device', 'cpu', '-q'];
    const quiet = tempDir();
    const asked = tempDir();
    // onnxruntime keeps its telemetry off by itself where CI is set (as CI runs these tests): unset it here
    const off = await runCli(args, { env: { XDG_CACHE_HOME: quiet, CI: '' } });
    const on = await runCli(args, { env: { XDG_CACHE_HOME: asked, ORT_DISABLE_TELEMETRY: '0', CI: '' } });
    assert.equal(off.code, 0, off.stderr);
    assert.equal(on.code, 0, on.stderr);
    assert.equal(on.stdout, off.stdout);
    assert.deepEqual(readdirSync(quiet), []);
    assert.deepEqual(readdirSync(asked), ['Microsoft']);
  });

  it('--output writes the file atomically with a metadata sidecar', async () => {
    const dir = tempDir();
    const output = path.join(dir, 'out.csv');
    const { code, stdout } = await runCli(['predict', 'fixtures/samples', '-o', output, '--seed', '4', '-t', '5', '--device', 'cpu', '-q']);
    assert.equal(code, 0);
    assert.equal(stdout, '');
    assert.equal(readCsv(readFileSync(output, 'utf8')).length, 50);
    assert.ok(!existsSync(`${output}.partial`));
    const meta = JSON.parse(readFileSync(`${output}.meta.json`, 'utf8')) as Record<string, any>;
    assert.equal(meta.seed, 4);
    assert.equal(meta.passes, 5);
    assert.equal(meta.provider, 'cpu');
    assert.match(meta.model.sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(meta.counts, { inputs: 50, already_done: 0, ok: 50, failed: 0, skipped_non_images: 0 });
  });
});

describe('--color-profile and its earlier spelling', () => {
  it('--colour-profile gives what --color-profile gives, byte for byte; --help shows only --color-profile', async () => {
    const dir = tempDir();
    const pixels = Buffer.alloc(28 * 28 * 3);
    for (let i = 0; i < 28 * 28; i++) pixels.set([(i * 7) % 256, 255 - ((i * 3) % 256), (i * 11) % 256], i * 3);
    const sharp = (await import('sharp')).default;
    await sharp(pixels, { raw: { width: 28, height: 28, channels: 3 } })
      .withIccProfile(path.join(ROOT, 'fixtures', 'icc', 'ProPhotoRGB.icc'))
      .png()
      .toFile(path.join(dir, 'tagged.png'));
    const run = async (name: string, ...flags: string[]) => {
      const output = path.join(dir, `${name}.csv`);
      const result = await runCli([
        'predict',
        path.join(dir, 'tagged.png'),
        'fixtures/samples/coat-10.png',
        '-o',
        output,
        '-t',
        '4',
        '--seed',
        '3',
        '--device',
        'cpu',
        '-q',
        ...flags,
      ]);
      assert.equal(result.code, 0, result.stderr);
      const meta = JSON.parse(readFileSync(`${output}.meta.json`, 'utf8')) as { settings: unknown };
      assert.deepEqual(keysNotSnakeCase(meta), []);
      return { rows: readFileSync(output, 'utf8'), settings: JSON.stringify(meta.settings) };
    };
    const american = await run('american', '--color-profile', 'convert');
    const british = await run('british', '--colour-profile', 'convert');
    assert.deepEqual(british, american);
    assert.match(american.settings, /"color_profile":"convert"/);
    // the flag does something: the tagged photo's row differs when the profile is ignored
    const ignored = await run('ignored', '--colour-profile', 'ignore');
    assert.notEqual(ignored.rows, american.rows);
    assert.deepEqual(await run('last', '--colour-profile', 'ignore', '--color-profile', 'convert'), american);
    const help = await runCli(['predict', '--help']);
    assert.match(help.stdout, /--color-profile <mode>/);
    assert.doesNotMatch(help.stdout, /colour/);
  });
});

describe('durability: kill and --resume', () => {
  /** 150 images: three copies of the samples, so a run takes long enough to be killed midway. */
  function imageFolder(): string {
    const dir = tempDir();
    const images = path.join(dir, 'images');
    mkdirSync(images);
    const samples = readdirSync(path.join(ROOT, 'fixtures', 'samples'));
    for (const copy of ['a', 'b', 'c'])
      for (const file of samples) copyFileSync(path.join(ROOT, 'fixtures', 'samples', file), path.join(images, `${copy}-${file}`));
    return dir;
  }
  const args = (output: string) => ['predict', 'images', '-o', output, '-t', '20', '-b', '2', '--seed', '11', '--device', 'cpu', '-q'];

  /** Starts a run and sends `signal` once the partial output holds at least `rows` data rows. */
  function runUntilRows(cwd: string, output: string, rows: number, signal: NodeJS.Signals): Promise<number | null> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args(output)], { cwd, stdio: 'ignore' });
      const timer = setInterval(() => {
        const partial = path.join(cwd, `${output}.partial`);
        if (!existsSync(partial)) return;
        const lines = readFileSync(partial, 'utf8').split('\n').length - 2; // header and trailing newline
        if (lines >= rows) {
          clearInterval(timer);
          child.kill(signal);
        }
      }, 2);
      child.on('close', (code) => {
        clearInterval(timer);
        resolve(code);
      });
    });
  }

  it('after SIGKILL at several points, --resume ends with exactly the rows of an uninterrupted run', async () => {
    const dir = imageFolder();
    const clean = await runCli(args('clean.csv'), { cwd: dir });
    assert.equal(clean.code, 0, clean.stderr);
    const expected = readFileSync(path.join(dir, 'clean.csv'), 'utf8');
    assert.equal(readCsv(expected).length, 150);
    for (const killAt of [1, 37, 100]) {
      const output = `killed-${killAt}.csv`;
      await runUntilRows(dir, output, killAt, 'SIGKILL');
      assert.ok(!existsSync(path.join(dir, output)), 'a killed run must not leave a complete-looking output');
      const resumed = await runCli([...args(output), '--resume'], { cwd: dir });
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.equal(readFileSync(path.join(dir, output), 'utf8'), expected, `kill after ${killAt} rows`);
    }
  });

  it('SIGINT exits 130 after saving the finished rows, and --resume completes them', async () => {
    const dir = imageFolder();
    const code = await runUntilRows(dir, 'int.csv', 10, 'SIGINT');
    assert.equal(code, 130);
    const partial = readFileSync(path.join(dir, 'int.csv.partial'), 'utf8');
    assert.ok(partial.endsWith('\n'));
    const saved = readCsv(partial);
    assert.ok(saved.length >= 10 && saved.length < 150, `${saved.length} rows saved`);
    const resumed = await runCli([...args('int.csv'), '--resume'], { cwd: dir });
    assert.equal(resumed.code, 0);
    const rows = readCsv(readFileSync(path.join(dir, 'int.csv'), 'utf8'));
    assert.equal(new Set(rows.map((r) => r.path)).size, 150);
    assert.equal(rows.length, 150);
  });

  it('without --seed, a resumed run reuses the seed of the killed run', async () => {
    const dir = imageFolder();
    const noSeed = (output: string) => args(output).filter((a, i, all) => a !== '--seed' && all[i - 1] !== '--seed');
    await new Promise<void>((resolve) => {
      const child = spawn(process.execPath, [BIN, ...noSeed('free.csv')], { cwd: dir, stdio: 'ignore' });
      const timer = setInterval(() => {
        if (existsSync(path.join(dir, 'free.csv.partial')) && readFileSync(path.join(dir, 'free.csv.partial'), 'utf8').split('\n').length > 20) {
          clearInterval(timer);
          child.kill('SIGKILL');
        }
      }, 2);
      child.on('close', () => resolve());
    });
    const resumed = await runCli([...noSeed('free.csv'), '--resume'], { cwd: dir });
    assert.equal(resumed.code, 0, resumed.stderr);
    const seed = (JSON.parse(readFileSync(path.join(dir, 'free.csv.meta.json'), 'utf8')) as { seed: number }).seed;
    const again = await runCli([...noSeed('again.csv'), '--seed', String(seed)], { cwd: dir });
    assert.equal(again.code, 0);
    assert.equal(readFileSync(path.join(dir, 'free.csv'), 'utf8'), readFileSync(path.join(dir, 'again.csv'), 'utf8'));
  });

  it('--resume refuses when the settings differ from the earlier run', async () => {
    const dir = imageFolder();
    assert.equal((await runCli(args('out.csv'), { cwd: dir })).code, 0);
    const other = await runCli([...args('out.csv').map((a) => (a === '20' ? '7' : a)), '--resume'], { cwd: dir });
    assert.equal(other.code, 2);
    assert.match(other.stderr, /Cannot resume \S*out.csv: settings differ from the earlier run \(passes: earlier 20, now 7\)/);
  });

  it('--resume refuses an output whose masks were drawn by another mask scheme (an older version)', async () => {
    const dir = imageFolder();
    assert.equal((await runCli(args('old.csv'), { cwd: dir })).code, 0);
    const metaFile = path.join(dir, 'old.csv.meta.json');
    const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as { settings: Record<string, unknown> };
    meta.settings.mask_scheme = 1;
    writeFileSync(metaFile, JSON.stringify(meta));
    const resumed = await runCli([...args('old.csv'), '--resume'], { cwd: dir });
    assert.equal(resumed.code, 2);
    assert.match(resumed.stderr, /settings differ from the earlier run \(mask_scheme: earlier 1, now 2\)/);
  });

  it("--resume continues a run the previous release started (its settings spell the preprocessing's keys in camelCase)", async () => {
    const dir = tempDir();
    const run = (output: string, ...more: string[]) =>
      runCli(['predict', 'fixtures/samples', '-o', path.join(dir, output), '-t', '3', '-b', '4', '--seed', '5', '--device', 'cpu', '-q', ...more]);
    assert.equal((await run('clean.csv')).code, 0);
    const clean = readFileSync(path.join(dir, 'clean.csv'), 'utf8');
    const { settings } = JSON.parse(readFileSync(path.join(dir, 'clean.csv.meta.json'), 'utf8')) as { settings: Record<string, unknown> };
    const p = settings.preprocess as Record<string, unknown>;
    assert.deepEqual(Object.keys(p), [
      'height', 'width', 'layout', 'channel_order', 'mean', 'std', 'resize', 'interpolation',
      'crop_fraction', 'alpha', 'background', 'pixel_limit', 'resize_engine', 'color_profile',
    ]); // prettier-ignore
    // what the previous release wrote beside a killed run's rows, by hand: the same settings, the preprocessing in camelCase
    const earlier = (colourProfile: string) => ({
      ...settings,
      preprocess: {
        height: p.height, width: p.width, layout: p.layout, channelOrder: p.channel_order, mean: p.mean, std: p.std,
        resize: p.resize, interpolation: p.interpolation, cropFraction: p.crop_fraction, alpha: p.alpha,
        background: p.background, pixelLimit: p.pixel_limit, resizeEngine: p.resize_engine, colourProfile,
      }, // prettier-ignore
    });
    const lines = clean.split('\n');
    for (const [output, profile] of [
      ['old.csv', 'ignore'],
      ['other.csv', 'convert'],
    ] as const) {
      writeFileSync(path.join(dir, `${output}.partial`), `${lines.slice(0, 21).join('\n')}\n`);
      writeFileSync(path.join(dir, `${output}.partial.json`), JSON.stringify(earlier(profile)));
    }
    const resumed = await run('old.csv', '--resume');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(readFileSync(path.join(dir, 'old.csv'), 'utf8'), clean);
    // a preprocessing that differs still refuses, named in today's keys
    const other = await run('other.csv', '--resume');
    assert.equal(other.code, 2);
    assert.match(
      other.stderr,
      /settings differ from the earlier run \(preprocess: earlier \{[^}]*"color_profile":"convert"\}, now \{[^}]*"color_profile":"ignore"\}\)/,
    );
  });

  it('a complete earlier output survives a new run that is killed', async () => {
    const dir = imageFolder();
    assert.equal((await runCli(args('keep.csv'), { cwd: dir })).code, 0);
    const before = readFileSync(path.join(dir, 'keep.csv'), 'utf8');
    await runUntilRows(dir, 'keep.csv', 5, 'SIGKILL');
    assert.equal(readFileSync(path.join(dir, 'keep.csv'), 'utf8'), before);
  });
});

describe('progress on stderr', () => {
  it('draws a bar under a pseudo-terminal and none in a pipe', async () => {
    const output = path.join(tempDir(), 'out.csv');
    const command = `${process.execPath} ${BIN} predict fixtures/samples -t 2 --seed 1 --device cpu -o ${output}`;
    const tty = await new Promise<string>((resolve) => {
      const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('close', () => resolve(out));
    });
    assert.match(tty, /predict \[.*\] \d+\/50 images/);
    // the bar names the command it runs for
    const evaluated = await new Promise<string>((resolve) => {
      const child = spawn(
        'script',
        ['-q', '-e', '-c', `${process.execPath} ${BIN} evaluate fixtures/samples --truth fixtures/samples.csv -t 2 --seed 1 --device cpu`, '/dev/null'],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('close', () => resolve(out));
    });
    assert.match(evaluated, /evaluate \[.*\] \d+\/50 images/);
    assert.doesNotMatch(evaluated, /predict \[/);
    const piped = await runCli(['predict', 'fixtures/samples', '-t', '2', '--seed', '1', '--device', 'cpu']);
    assert.doesNotMatch(piped.stderr, /\[.*\] \d+\/50/);
    assert.doesNotMatch(piped.stderr, /\x1b\[/);
  });
});
