import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { mergeShards } from '../../src/run/merge.js';
import { tempDir } from '../helpers/files.js';

const HEADER = 'path,label,status,error\n';
const settings = { input_list_sha256: 'abc', passes: 3, seed: 7, format: 'csv' };

interface ShardSpec {
  rows: string;
  images?: number;
  started?: string;
  finished?: string;
  seconds?: number;
  /** Overrides of the metadata, applied last. */
  meta?: Record<string, unknown>;
  header?: string;
}

/** Writes shard `index` of `count` beside `output` as predict writes it: the rows and metadata recording their length and SHA-256. */
function writeShard(output: string, index: number, count: number, spec: ShardSpec): string {
  const ext = path.extname(output);
  const file = `${output.slice(0, -ext.length)}.shard-${String(index).padStart(4, '0')}-of-${String(count).padStart(4, '0')}${ext}`;
  const bytes = Buffer.from((spec.header ?? HEADER) + spec.rows);
  writeFileSync(file, bytes);
  const images = spec.images ?? spec.rows.split('\n').filter(Boolean).length;
  const meta = {
    seed: 7,
    passes: 3,
    model: { sha256: 'm' },
    started: spec.started ?? '2026-01-01T00:00:00.000Z',
    finished: spec.finished ?? '2026-01-01T00:00:10.000Z',
    seconds: spec.seconds ?? 10,
    counts: { inputs: images, already_done: 0, ok: images, failed: 0, skipped_non_images: 2 },
    settings: { ...settings, shard: { index, count } },
    shard: { index, count, first: 0, end: images, images, host: `node${index}` },
    output_file: { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') },
    ...spec.meta,
  };
  writeFileSync(`${file}.meta.json`, JSON.stringify(meta));
  return file;
}

function job(shards: ShardSpec[]): { folder: string; output: string; files: string[] } {
  const folder = tempDir();
  const output = path.join(folder, 'out.csv');
  return { folder, output, files: shards.map((s, i) => writeShard(output, i, shards.length, s)) };
}

const merge = (output: string, meta?: string) => mergeShards({ output, version: '9.9.9', ...(meta && { meta }) });

/** Asserts that merging refuses with a UsageError matching `pattern`, and leaves no merged output. */
function refuses(output: string, pattern: RegExp): void {
  assert.throws(
    () => merge(output),
    (e: unknown) => e instanceof UsageError && pattern.test(e.message),
  );
  assert.equal(existsSync(output), false, 'no merged output after a refusal');
}

describe('mergeShards', () => {
  it('joins CSV shards in shard order under one header, counts error rows, and sums the metadata', () => {
    const { folder, output } = job([
      { rows: 'a.png,cat,ok,\nb.png,,error,not an image\n', started: '2026-01-01T00:00:05.000Z', finished: '2026-01-01T00:00:20.000Z', seconds: 15 },
      { rows: '', images: 0, seconds: 1 },
      { rows: '"c,\nd.png",dog,ok,\n', images: 1, started: '2026-01-01T00:00:00.000Z', finished: '2026-01-01T00:00:30.000Z', seconds: 30 },
    ]);
    assert.deepEqual(merge(output), { shards: 3, rows: 3, ok: 2, failed: 1 });
    assert.equal(readFileSync(output, 'utf8'), 'path,label,status,error\na.png,cat,ok,\nb.png,,error,not an image\n"c,\nd.png",dog,ok,\n');
    const meta = JSON.parse(readFileSync(`${output}.meta.json`, 'utf8'));
    assert.equal(meta.command, 'merge');
    assert.equal(meta.version, '9.9.9');
    assert.equal(meta.seed, 7);
    assert.equal(meta.passes, 3);
    assert.equal(meta.started, '2026-01-01T00:00:00.000Z');
    assert.equal(meta.finished, '2026-01-01T00:00:30.000Z');
    assert.equal(meta.seconds, 30);
    assert.equal(meta.shard_seconds, 46);
    assert.deepEqual(meta.counts, { inputs: 3, ok: 2, failed: 1, skipped_non_images: 2 });
    assert.deepEqual(meta.settings, settings);
    assert.deepEqual(
      meta.shards.map((s: { file: string; images: number; host: string }) => [s.file, s.images, s.host]),
      [
        ['out.shard-0000-of-0003.csv', 2, 'node0'],
        ['out.shard-0001-of-0003.csv', 0, 'node1'],
        ['out.shard-0002-of-0003.csv', 1, 'node2'],
      ],
    );
    assert.deepEqual(
      readdirSync(folder)
        .filter((f) => !f.includes('shard'))
        .sort(),
      ['out.csv', 'out.csv.meta.json'],
    );
  });

  it('joins JSONL shards line by line (no header) and writes --meta where asked', () => {
    const folder = tempDir();
    const output = path.join(folder, 'out.jsonl');
    const jsonl = { meta: { settings: { ...settings, format: 'jsonl' } } };
    writeShard(output, 0, 2, { header: '', rows: '{"path":"a","status":"ok"}\n', ...jsonl });
    writeShard(output, 1, 2, { header: '', rows: '{"path":"b","status":"error"}\n{"path":"c","status":"ok"}\n', ...jsonl });
    // the settings as merge compares them include the shard field; give each its own
    for (const i of [0, 1]) {
      const metaFile = path.join(folder, `out.shard-000${i}-of-0002.jsonl.meta.json`);
      const meta = JSON.parse(readFileSync(metaFile, 'utf8'));
      meta.settings.shard = { index: i, count: 2 };
      writeFileSync(metaFile, JSON.stringify(meta));
    }
    const metaOut = path.join(folder, 'job.json');
    assert.deepEqual(merge(output, metaOut), { shards: 2, rows: 3, ok: 2, failed: 1 });
    assert.equal(readFileSync(output, 'utf8'), '{"path":"a","status":"ok"}\n{"path":"b","status":"error"}\n{"path":"c","status":"ok"}\n');
    assert.equal(JSON.parse(readFileSync(metaOut, 'utf8')).counts.failed, 1);
    assert.equal(existsSync(`${output}.meta.json`), false);
  });

  it('refuses when no shard lies beside the output, naming the expected file names', () => {
    const folder = tempDir();
    refuses(path.join(folder, 'out.csv'), /^No shard outputs for .*out\.csv in .* \(expected names like out\.shard-0000-of-0004\.csv\)$/);
  });

  it('refuses shards of two splits', () => {
    const { output } = job([{ rows: 'a,x,ok,\n' }, { rows: 'b,x,ok,\n' }]);
    writeShard(output, 0, 3, { rows: 'a,x,ok,\n' });
    refuses(output, /Shard outputs of different splits lie beside .*out\.csv \(of 2, 3 shards\); remove the stale ones/);
  });

  it('refuses a stale split seen only as a .partial', () => {
    const { output, folder } = job([{ rows: 'a,x,ok,\n' }]);
    writeFileSync(path.join(folder, 'out.shard-0000-of-0002.csv.partial'), HEADER);
    refuses(output, /different splits .*\(of 1, 2 shards\)/);
  });

  it('refuses an incomplete shard (.partial), naming it', () => {
    const { output, files } = job([{ rows: 'a,x,ok,\n' }, { rows: 'b,x,ok,\n' }]);
    writeFileSync(`${files[1]}.partial`, HEADER);
    refuses(output, /^Shard 1 of 2 is incomplete: out\.shard-0001-of-0002\.csv\.partial is there .* rerun that shard with `resume`, then merge$/);
  });

  it('refuses a missing shard', () => {
    const folder = tempDir();
    const output = path.join(folder, 'out.csv');
    writeShard(output, 0, 3, { rows: 'a,x,ok,\n' });
    writeShard(output, 2, 3, { rows: 'c,x,ok,\n' });
    refuses(output, /^Shard 1 of 3 is missing: no out\.shard-0001-of-0003\.csv in .*; run it, then merge$/);
  });

  it('refuses a shard without metadata, or with metadata that is not JSON', () => {
    const a = job([{ rows: 'a,x,ok,\n' }, { rows: 'b,x,ok,\n' }]);
    writeFileSync(`${a.files[1]}.meta.json`, '{"cut');
    refuses(a.output, /^Cannot read the metadata of shard 1 of 2 .*out\.shard-0001-of-0002\.csv\.meta\.json: it is not JSON \(.*JSON.*\); rerun that shard$/);
    const b = job([{ rows: 'a,x,ok,\n' }]);
    unlinkSync(`${b.files[0]}.meta.json`);
    refuses(b.output, /^Shard 0 of 1 has no metadata out\.shard-0000-of-0001\.csv\.meta\.json, so it cannot be checked; rerun that shard$/);
  });

  it('refuses a renamed shard: its metadata names another index or count', () => {
    const { output } = job([{ rows: 'a,x,ok,\n' }, { rows: 'b,x,ok,\n', meta: { shard: { index: 0, count: 2, first: 0, end: 1, images: 1 } } }]);
    refuses(output, /^out\.shard-0001-of-0002\.csv holds the rows of shard 0 of 2, not 1 of 2: it was renamed or copied; rerun shard 1$/);
  });

  it('refuses shards made with other settings, naming each setting that differs', () => {
    const { output } = job([
      { rows: 'a,x,ok,\n' },
      { rows: 'b,x,ok,\n', meta: { settings: { ...settings, seed: 8, extra: true, shard: { index: 1, count: 2 } } } },
    ]);
    refuses(
      output,
      /^out\.shard-0001-of-0002\.csv was made with other settings than shard 0 \(seed: shard 0 7, this one 8; extra: shard 0 undefined, this one true\); rerun it with the job's settings$/,
    );
  });

  it('refuses a shard whose content is not what its run wrote', () => {
    const noDigest = job([{ rows: 'a,x,ok,\n', meta: { output_file: undefined } }]);
    refuses(noDigest.output, /^out\.shard-0000-of-0001\.csv: its metadata records no length and checksum/);

    const cut = job([{ rows: 'a,x,ok,\nb,x,ok,\n' }]);
    writeFileSync(cut.files[0]!, `${HEADER}a,x,ok,\nb,x`);
    refuses(cut.output, /^out\.shard-0000-of-0001\.csv does not end on a whole record \(no final newline\)/);

    const shorter = job([{ rows: 'a,x,ok,\nb,x,ok,\n' }]);
    writeFileSync(shorter.files[0]!, `${HEADER}a,x,ok,\n`);
    refuses(
      shorter.output,
      new RegExp(
        `^out\\.shard-0000-of-0001\\.csv holds ${HEADER.length + 8} bytes but its run wrote ${HEADER.length + 16}: the file was changed after its run`,
      ),
    );

    const edited = job([{ rows: 'a,x,ok,\nb,x,ok,\n' }]);
    const digest = createHash('sha256').update(`${HEADER}a,y,ok,\nb,x,ok,\n`).digest('hex');
    writeFileSync(edited.files[0]!, `${HEADER}a,y,ok,\nb,x,ok,\n`);
    refuses(
      edited.output,
      new RegExp(`^out\\.shard-0000-of-0001\\.csv is not the file its run wrote \\(SHA-256 ${digest.slice(0, 12)}\\.\\.\\., recorded [0-9a-f]{12}\\.\\.\\.\\)`),
    );
  });

  it('refuses a shard whose rows are not its images (the recorded digest matches, the count does not)', () => {
    const { output } = job([{ rows: 'a,x,ok,\n', images: 2 }]);
    refuses(output, /^out\.shard-0000-of-0001\.csv holds 1 rows but its shard has 2 images/);
  });

  it('refuses to write the merged metadata over a shard', () => {
    const { output, files } = job([{ rows: 'a,x,ok,\n' }]);
    assert.throws(() => merge(output, files[0]), /a shard/);
    assert.equal(readFileSync(files[0]!, 'utf8'), `${HEADER}a,x,ok,\n`);
  });

  it('refuses an output that is not a file', () => {
    assert.throws(
      () => merge('-'),
      (e: unknown) => e instanceof UsageError && /^merge writes a file: give the output file the shards were written for$/.test(e.message),
    );
  });
});
