/** predict --shard and merge through the real binary: the merge equals one machine's run byte for byte. */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

const SAMPLES = path.join(ROOT, 'fixtures/samples');
const common = [SAMPLES, '-t', '3', '--device', 'cpu', '-q'];

async function shards(folder: string, count: number, extra: string[] = [], output = 'out.csv'): Promise<void> {
  for (let index = 0; index < count; index++) {
    const { code, stderr } = await runCli(['predict', ...common, ...extra, '--shard', `${index}/${count}`, '-o', output, '--resume'], { cwd: folder });
    assert.equal(code, 0, stderr);
  }
}

describe('sharded runs and merge', () => {
  it('4 shards merged give the bytes of a single run, in CSV and JSONL; merge metadata adds up the shards', async () => {
    for (const [format, output] of [
      ['csv', 'out.csv'],
      ['jsonl', 'out.jsonl'],
    ] as const) {
      const folder = tempDir();
      await shards(folder, 4, ['--seed', '21', '-f', format], output);
      const merged = await runCli(['merge', '-o', output], { cwd: folder });
      assert.equal(merged.code, 0, merged.stderr);
      assert.match(merged.stderr, new RegExp(`merged 4 shards into ${output}: 50 rows, 50 ok, 0 failed`));
      const single = await runCli(['predict', ...common, '--seed', '21', '-f', format, '-o', `single.${format}`], { cwd: folder });
      assert.equal(single.code, 0);
      assert.equal(readFileSync(path.join(folder, output), 'utf8'), readFileSync(path.join(folder, `single.${format}`), 'utf8'));
      const meta = JSON.parse(readFileSync(path.join(folder, `${output}.meta.json`), 'utf8')) as Record<string, any>;
      assert.equal(meta.command, 'merge');
      assert.deepEqual(
        meta.shards.map((s: { first: number; end: number }) => [s.first, s.end]),
        [
          [0, 12],
          [12, 25],
          [25, 37],
          [37, 50],
        ],
      );
      assert.equal(meta.counts.inputs, 50);
      assert.equal(meta.seed, 21);
    }
  });

  it('without --seed the shards derive one seed from the input list and model, and still equal a single run with it', async () => {
    const folder = tempDir();
    await shards(folder, 3);
    assert.equal((await runCli(['merge', '-o', 'out.csv'], { cwd: folder })).code, 0);
    const seeds = [0, 1, 2].map(
      (i) => (JSON.parse(readFileSync(path.join(folder, `out.shard-000${i}-of-0003.csv.meta.json`), 'utf8')) as { seed: number }).seed,
    );
    assert.equal(new Set(seeds).size, 1);
    const single = await runCli(['predict', ...common, '--seed', String(seeds[0]), '-o', 'single.csv'], { cwd: folder });
    assert.equal(single.code, 0);
    assert.equal(readFileSync(path.join(folder, 'out.csv'), 'utf8'), readFileSync(path.join(folder, 'single.csv'), 'utf8'));
  });

  it('more shards than images: the empty shards write a header and merge cleanly', async () => {
    const folder = tempDir();
    copyFileSync(path.join(SAMPLES, 'bag-18.png'), path.join(folder, 'a.png'));
    copyFileSync(path.join(SAMPLES, 'coat-10.png'), path.join(folder, 'b.png'));
    for (let index = 0; index < 3; index++) {
      const { code, stderr } = await runCli([
        'predict',
        folder,
        '-t',
        '2',
        '--seed',
        '1',
        '--device',
        'cpu',
        '-q',
        '--shard',
        `${index}/3`,
        '-o',
        path.join(folder, 'out.csv'),
      ]);
      assert.equal(code, 0, stderr);
    }
    const merged = await runCli(['merge', '-o', path.join(folder, 'out.csv')]);
    assert.equal(merged.code, 0, merged.stderr);
    assert.equal(readFileSync(path.join(folder, 'out.csv'), 'utf8').trim().split('\n').length, 3);
  });

  it('merge refuses a missing, incomplete, renamed or mismatched shard (exit 2, naming it) and writes nothing', async () => {
    const folder = tempDir();
    await shards(folder, 3, ['--seed', '4']);
    const shard = (i: number) => path.join(folder, `out.shard-000${i}-of-0003.csv`);
    const expectRefusal = async (pattern: RegExp) => {
      const { code, stderr } = await runCli(['merge', '-o', 'out.csv'], { cwd: folder });
      assert.equal(code, 2, stderr);
      assert.match(stderr, pattern);
      assert.equal(existsSync(path.join(folder, 'out.csv')), false);
    };
    renameSync(shard(1), `${shard(1)}.away`);
    await expectRefusal(/Shard 1 of 3 is missing: no out\.shard-0001-of-0003\.csv/);
    renameSync(`${shard(1)}.away`, `${shard(1)}.partial`);
    await expectRefusal(/Shard 1 of 3 is incomplete: out\.shard-0001-of-0003\.csv\.partial is there/);
    renameSync(`${shard(1)}.partial`, shard(1));
    // shard 2's file replaced by shard 0's: the metadata no longer matches its name
    copyFileSync(`${shard(0)}.meta.json`, `${shard(2)}.meta.json`);
    await expectRefusal(/out\.shard-0002-of-0003\.csv holds the rows of shard 0 of 3, not 2 of 3/);
    // shard 2 rerun with another T, then with another model
    const rerun = async (extra: string[]) => {
      const { code, stderr } = await runCli(['predict', ...common, '--seed', '4', '--shard', '2/3', '-o', 'out.csv', ...extra], { cwd: folder });
      assert.equal(code, 0, stderr);
    };
    await rerun(['--topk', '2']);
    await expectRefusal(/out\.shard-0002-of-0003\.csv was made with other settings than shard 0 \(topk: shard 0 3, this one 2\)/);
    await rerun(['-m', path.join(ROOT, 'fixtures/models/squeezenet1_1.onnx')]);
    await expectRefusal(/was made with other settings than shard 0 \(model_sha256: /);
    // a shard from another input list
    await rerun([path.join(ROOT, 'fixtures/odd/rgb.png')]);
    await expectRefusal(/was made with other settings than shard 0 \(input_list_sha256: .*input_list_length: shard 0 50, this one 51/);
    await rerun([]);
    const merged = await runCli(['merge', '-o', 'out.csv'], { cwd: folder });
    assert.equal(merged.code, 0, merged.stderr);
  });

  it('a shard changed after its run is refused by its recorded length and SHA-256, naming it; unreadable metadata too', async () => {
    const folder = tempDir();
    await shards(folder, 2, ['--seed', '4']);
    const file = path.join(folder, 'out.shard-0001-of-0002.csv');
    const meta = `${file}.meta.json`;
    const original = readFileSync(file);
    const originalMeta = readFileSync(meta);
    const expectRefusal = async (pattern: RegExp) => {
      const { code, stderr } = await runCli(['merge', '-o', 'out.csv'], { cwd: folder });
      assert.equal(code, 2, stderr);
      assert.match(stderr, pattern);
      assert.equal(existsSync(path.join(folder, 'out.csv')), false, 'nothing merged');
    };
    // three whole rows cut off
    writeFileSync(file, original.toString('utf8').split('\n').slice(0, -3).join('\n') + '\n');
    await expectRefusal(/out\.shard-0001-of-0002\.csv holds \d+ bytes but its run wrote \d+: the file was changed after its run; rerun that shard/);
    // cut in the middle of a row, and a missing final newline
    writeFileSync(file, original.subarray(0, original.length - 40));
    await expectRefusal(/out\.shard-0001-of-0002\.csv does not end on a whole record \(no final newline\)/);
    writeFileSync(file, original.subarray(0, original.length - 1));
    await expectRefusal(/does not end on a whole record/);
    // one digit changed: the same size
    const text = original.toString('utf8');
    const at = text.lastIndexOf('0.');
    writeFileSync(file, `${text.slice(0, at)}${text[at + 2] === '9' ? '0.8' : '0.9'}${text.slice(at + 3)}`);
    assert.equal(readFileSync(file).length, original.length);
    await expectRefusal(/out\.shard-0001-of-0002\.csv is not the file its run wrote \(SHA-256 [0-9a-f]{12}\.\.\., recorded [0-9a-f]{12}\.\.\.\)/);
    // rows of another seed under the old metadata
    const rerun = await runCli(['predict', ...common, '--seed', '5', '--shard', '1/2', '-o', 'out.csv'], { cwd: folder });
    assert.equal(rerun.code, 0, rerun.stderr);
    writeFileSync(meta, originalMeta);
    await expectRefusal(/out\.shard-0001-of-0002\.csv is not the file its run wrote|holds \d+ bytes but its run wrote/);
    // metadata that is not JSON
    writeFileSync(file, original);
    writeFileSync(meta, '{"seed": 4, "shard": ');
    await expectRefusal(/Cannot read the metadata of shard 1 of 2 .*out\.shard-0001-of-0002\.csv\.meta\.json: it is not JSON \(.*JSON.*\); rerun that shard/);
    writeFileSync(meta, originalMeta);
    const merged = await runCli(['merge', '-o', 'out.csv'], { cwd: folder });
    assert.equal(merged.code, 0, merged.stderr);
  });

  it('stale shards of another split beside the job are refused', async () => {
    const folder = tempDir();
    await shards(folder, 2, ['--seed', '4']);
    await shards(folder, 3, ['--seed', '4']);
    const { code, stderr } = await runCli(['merge', '-o', 'out.csv'], { cwd: folder });
    assert.equal(code, 2, stderr);
    assert.match(stderr, /Shard outputs of different splits lie beside out\.csv \(of 2, 3 shards\); remove the stale ones/);
  });

  it('--shard needs an output file', async () => {
    const { code, stderr } = await runCli(['predict', ...common, '--shard', '0/2']);
    assert.equal(code, 2);
    assert.match(stderr, /A shard writes its own file: give an output file/);
  });
});
