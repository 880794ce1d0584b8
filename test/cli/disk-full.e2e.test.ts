import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { skipUnless } from '../helpers/require.js';
import { fillDisk, smallDiskUnavailable, withSmallDisk } from '../helpers/small-disk.js';

// Each writer is driven into a full disk (a 256 KiB tmpfs filled to a few pages): exit 74 with the
// file and the cause named, nothing half-written under a final name, no temp file left, and for
// predict a --resume after freeing space that ends with the bytes of an uninterrupted run.
const SAMPLES = ['fixtures/samples', '--seed', '1', '-t', '4', '-q', '--device', 'cpu'];
const onDisk = (folder: string) =>
  readdirSync(folder)
    .filter((f) => f !== 'filler')
    .sort();

async function reference(args: string[]): Promise<Buffer> {
  const out = path.join(tempDir(), 'out.csv');
  const run = await runCli([...args, '-o', out]);
  assert.equal(run.code, 0, run.stderr);
  return readFileSync(out);
}

const skip = skipUnless('tmpfs', smallDiskUnavailable);

describe('a full disk: exit 74 naming the file, nothing half-written, resume completes', () => {
  it('predict -o: rows cut by a full disk stay in the .partial; --resume after freeing space gives the uninterrupted bytes', { skip }, async () => {
    const expected = await reference(['predict', ...SAMPLES]);
    // 12 KiB free: the lock and the settings take a page each, the rows run out in their second page
    await withSmallDisk(256, async (folder) => {
      const out = path.join(folder, 'out.csv');
      const filler = fillDisk(folder, 12 * 1024);
      const run = await runCli(['predict', ...SAMPLES, '-o', out]);
      assert.equal(run.code, 74, run.stderr);
      assert.equal(
        run.stderr,
        `mc-dropout: error: Cannot write ${out}.partial: the disk is full (ENOSPC); the finished rows are kept there: free space, then rerun with --resume\n`,
      );
      assert.deepEqual(onDisk(folder), ['out.csv.partial', 'out.csv.partial.json']);
      const partial = readFileSync(`${out}.partial`);
      assert.ok(partial.length > 0 && partial.length < expected.length, `${partial.length} bytes written before the disk filled`);
      assert.deepEqual(partial, expected.subarray(0, partial.length), 'what was written is the start of the right rows');
      rmSync(filler);
      const resumed = await runCli(['predict', ...SAMPLES, '-o', out, '--resume']);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.deepEqual(readFileSync(out), expected);
      assert.deepEqual(onDisk(folder), ['out.csv', 'out.csv.meta.json']);
    });
  });

  it('predict: the metadata sidecar that does not fit keeps the output a .partial, and --resume completes it', { skip }, async () => {
    const expected = await reference(['predict', ...SAMPLES]);
    await withSmallDisk(256, async (folder) => {
      const out = path.join(folder, 'out.csv');
      const meta = path.join(folder, 'run.meta.json');
      // room for the rows (two pages) but not for the metadata's page
      const filler = fillDisk(folder, 16 * 1024);
      const run = await runCli(['predict', ...SAMPLES, '-o', out, '--meta', meta]);
      assert.equal(run.code, 74, run.stderr);
      assert.match(run.stderr, new RegExp(`Cannot write ${meta}: the disk is full \\(ENOSPC\\); the finished rows are kept in ${out}\\.partial`));
      assert.ok(!existsSync(out) && !existsSync(meta), 'no output under its final name');
      rmSync(filler);
      const resumed = await runCli(['predict', ...SAMPLES, '-o', out, '--meta', meta, '--resume']);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.deepEqual(readFileSync(out), expected);
      // every row was written before the metadata failed: the resumed run only completes the output
      assert.deepEqual((JSON.parse(readFileSync(meta, 'utf8')) as { counts: object }).counts, {
        inputs: 50,
        already_done: 50,
        ok: 0,
        failed: 0,
        skipped_non_images: 0,
      });
    });
  });

  it('predict --save-passes: exit 74 naming the .npy, no .npy under its name', { skip }, async () => {
    await withSmallDisk(256, async (folder) => {
      fillDisk(folder, 4 * 1024);
      const npy = path.join(folder, 'run.npy');
      const run = await runCli(['predict', ...SAMPLES, '--save-passes', npy]);
      assert.equal(run.code, 74, run.stderr);
      assert.match(run.stderr, new RegExp(`Cannot write ${npy}\\.partial: the disk is full \\(ENOSPC\\)`));
      assert.ok(!existsSync(npy) && !existsSync(`${npy}.paths.json`));
    });
  });

  it('merge -o: exit 74, no merged file and no temp file; merging again after freeing space works', { skip }, async () => {
    await withSmallDisk(256, async (folder) => {
      const out = path.join(folder, 'out.csv');
      for (const shard of ['0/2', '1/2']) {
        const run = await runCli(['predict', ...SAMPLES, '--shard', shard, '-o', out]);
        assert.equal(run.code, 0, run.stderr);
      }
      const shards = onDisk(folder);
      const filler = fillDisk(folder, 4 * 1024);
      const merged = await runCli(['merge', '-o', out]);
      assert.equal(merged.code, 74, merged.stderr);
      assert.match(merged.stderr, new RegExp(`Cannot write ${out}: the disk is full \\(ENOSPC\\)`));
      assert.deepEqual(onDisk(folder), shards);
      rmSync(filler);
      const again = await runCli(['merge', '-o', out]);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(readFileSync(out), await reference(['predict', ...SAMPLES]));
    });
  });

  it('the lock of an output on a full disk: exit 74 naming it, nothing left', { skip }, async () => {
    await withSmallDisk(256, async (folder) => {
      fillDisk(folder, 0);
      const out = path.join(folder, 'out.csv');
      const run = await runCli(['predict', ...SAMPLES, '-o', out]);
      assert.equal(run.code, 74, run.stderr);
      assert.match(run.stderr, new RegExp(`Cannot write ${out}\\.lock: the disk is full \\(ENOSPC\\)`));
      assert.deepEqual(onDisk(folder), []);
    });
  });

  it('evaluate --plots: exit 74 naming the figure, every figure written is whole, no temp file', { skip }, async () => {
    await withSmallDisk(256, async (folder) => {
      const plots = path.join(folder, 'plots');
      // room for a few of the figures, not for all
      fillDisk(folder, 64 * 1024);
      const run = await runCli([
        'evaluate',
        'fixtures/samples',
        '--truth',
        'fixtures/samples.csv',
        '-t',
        '2',
        '--seed',
        '1',
        '-q',
        '--device',
        'cpu',
        '--plots',
        plots,
      ]);
      assert.equal(run.code, 74, run.stderr);
      assert.match(run.stderr, new RegExp(`Cannot write ${plots}/[a-z-]+\\.(svg|png): the disk is full \\(ENOSPC\\)`));
      const left = readdirSync(plots);
      assert.ok(left.length > 0 && left.every((f) => !f.includes('.tmp-')), left.join(' '));
      for (const f of left.filter((f) => f.endsWith('.svg'))) assert.match(readFileSync(path.join(plots, f), 'utf8'), /<\/svg>\s*$/, f);
      for (const f of left.filter((f) => f.endsWith('.png')))
        assert.deepEqual([...readFileSync(path.join(plots, f)).subarray(-8)], [0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82], `${f} ends with IEND`);
    });
  });

  it('evaluate --json, report -o and convert -o: exit 74 naming the file, nothing left', { skip }, async () => {
    await withSmallDisk(256, async (folder) => {
      fillDisk(folder, 4 * 1024);
      const cases: [string, string[]][] = [
        ['eval.json', ['evaluate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', '-t', '2', '--seed', '1', '-q', '--device', 'cpu', '--json']],
        ['report.html', ['report', 'fixtures/samples', '--truth', 'fixtures/samples.csv', '-t', '2', '--seed', '1', '-q', '--device', 'cpu', '-o']],
        ['model.onnx', ['convert', 'models/fashion-mnist-mc.onnx', '--live', 'all', '-o']],
      ];
      for (const [name, args] of cases) {
        const file = path.join(folder, name);
        const run = await runCli([...args, file]);
        assert.equal(run.code, 74, `${name}: ${run.stderr}`);
        assert.match(run.stderr, new RegExp(`Cannot write ${file}: the disk is full \\(ENOSPC\\)`), name);
        assert.deepEqual(onDisk(folder), [], name);
      }
    });
  });
});

describe('standard output that fills up (/dev/full) is exit 74 in every command', () => {
  it('predict, inspect, doctor, select and evaluate', async () => {
    const run = path.join(tempDir(), 'run.csv');
    assert.equal((await runCli(['predict', ...SAMPLES, '-o', run])).code, 0);
    const full = openSync('/dev/full', 'w');
    try {
      for (const args of [
        ['predict', ...SAMPLES],
        ['inspect'],
        ['doctor'],
        ['select', run, '--by', 'bald', '-n', '5'],
        ['evaluate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', '-t', '2', '--seed', '1', '-q', '--device', 'cpu'],
      ]) {
        const result = await runCli(args, { stdoutFd: full });
        assert.equal(result.code, 74, `${args[0]}: ${result.stderr}`);
        assert.match(result.stderr, /mc-dropout: error: Cannot write standard output: the disk is full \(ENOSPC\)\n$/, args[0]);
      }
    } finally {
      closeSync(full);
    }
  });
});
