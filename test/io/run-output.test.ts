import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { OutputError, UsageError } from '../../src/errors.js';
import { digestOf } from '../../src/io/durable.js';
import { earlierSeed } from '../../src/io/resume.js';
import { RunOutput } from '../../src/io/run-output.js';
import { contentSha256 } from '../../src/io/schema.js';
import { outputTarget } from '../../src/io/targets.js';
import { tempDir } from '../helpers/files.js';
import { replaceFs, restoreFs, restoreFsAfterEach } from '../helpers/fs-mock.js';

const HEADER = 'path,label,status';
const settings = { seed: 1, passes: 3 };
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const open = (output: string, extra: Partial<Parameters<typeof RunOutput.open>[0]> = {}) =>
  RunOutput.open({ output: outputTarget(output, 'the output'), format: 'csv', resume: false, header: HEADER, settings, ...extra });

/** Every write fails as on a full disk, until restoreFs. */
function full(): void {
  replaceFs('writeSync', () => {
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  });
}

restoreFsAfterEach();

describe('RunOutput: a run from start to finish', () => {
  it('rows go to .partial with the settings beside it; finish writes the metadata with the length and SHA-256, then the file, and leaves nothing else', () => {
    const folder = tempDir();
    const output = path.join(folder, 'out.csv');
    const sink = open(output);
    sink.write('a.png,cat,ok');
    assert.deepEqual(readdirSync(folder).sort(), ['out.csv.lock', 'out.csv.partial', 'out.csv.partial.json']);
    // the settings, with the SHA-256 of their content (a resume refuses an edited file)
    assert.deepEqual(JSON.parse(readFileSync(`${output}.partial.json`, 'utf8')), { ...settings, sha256: contentSha256(settings) });
    assert.equal(readFileSync(`${output}.partial`, 'utf8'), `${HEADER}\na.png,cat,ok\n`);
    sink.write('b.png,dog,ok');
    sink.finish({ tool: 'x' });
    const rows = `${HEADER}\na.png,cat,ok\nb.png,dog,ok\n`;
    assert.equal(readFileSync(output, 'utf8'), rows);
    assert.deepEqual(JSON.parse(readFileSync(`${output}.meta.json`, 'utf8')), {
      tool: 'x',
      output_file: { bytes: Buffer.byteLength(rows), sha256: sha256(rows) },
    });
    assert.deepEqual(readdirSync(folder).sort(), ['out.csv', 'out.csv.meta.json']);
  });

  it('finish writes the metadata where it is asked (not beside the output)', () => {
    const folder = tempDir();
    const output = path.join(folder, 'out.csv');
    const meta = path.join(folder, 'elsewhere.json');
    const sink = open(output);
    sink.finish({ n: 1 }, outputTarget(meta, 'the metadata'));
    assert.equal(JSON.parse(readFileSync(meta, 'utf8')).n, 1);
    assert.deepEqual(readdirSync(folder).sort(), ['elsewhere.json', 'out.csv']);
  });

  it('close leaves a resumable .partial and its settings, and lets go of the lock', () => {
    const folder = tempDir();
    const output = path.join(folder, 'out.csv');
    const sink = open(output);
    sink.write('a.png,cat,ok');
    sink.close();
    assert.deepEqual(readdirSync(folder).sort(), ['out.csv.partial', 'out.csv.partial.json']);
    const again = open(output, { resume: true });
    assert.deepEqual([...again.done], ['a.png']);
    again.close();
  });

  it('digestOf reads the length and SHA-256 of a file', () => {
    const file = path.join(tempDir(), 'f');
    const text = 'x'.repeat((1 << 20) + 17); // more than the 1 MiB read piece
    writeFileSync(file, text);
    assert.deepEqual(digestOf(file), { bytes: text.length, sha256: sha256(text) });
  });
});

describe('RunOutput: resuming', () => {
  /** A finished output with its metadata (null: none). */
  function finished(rows: string, meta: unknown = { settings }) {
    const folder = tempDir();
    const output = path.join(folder, 'out.csv');
    writeFileSync(output, `${HEADER}\n${rows}`);
    if (meta !== null) writeFileSync(`${output}.meta.json`, JSON.stringify(meta));
    return { folder, output };
  }

  it('a finished output is copied to .partial, its rows are done, and new rows follow them', () => {
    const { output } = finished('a.png,cat,ok\n');
    const sink = open(output, { resume: true });
    assert.deepEqual([...sink.done], ['a.png']);
    assert.equal(readFileSync(output, 'utf8'), `${HEADER}\na.png,cat,ok\n`, 'the finished file is left as it is until the end');
    sink.write('b.png,dog,ok');
    sink.finish({});
    assert.equal(readFileSync(output, 'utf8'), `${HEADER}\na.png,cat,ok\nb.png,dog,ok\n`);
  });

  it('refuses other settings, naming each that differs', () => {
    const { output } = finished('a.png,cat,ok\n', { settings: { seed: 2, passes: 3 } });
    assert.throws(
      () => open(output, { resume: true }),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message ===
          `Cannot resume ${output}: settings differ from the earlier run (seed: earlier 2, now 1). Use the same settings, or drop \`resume\` to start over.`,
    );
    const partial = path.join(tempDir(), 'p.csv');
    writeFileSync(`${partial}.partial`, `${HEADER}\n`);
    writeFileSync(`${partial}.partial.json`, JSON.stringify({ seed: 1, passes: 4 }));
    assert.throws(() => open(partial, { resume: true }), {
      message: `Cannot resume ${partial}.partial: settings differ from the earlier run (passes: earlier 4, now 3). Use the same settings, or drop \`resume\` to start over.`,
    });
  });

  it('refuses a finished output whose metadata is missing or holds no settings', () => {
    const missing = finished('a.png,cat,ok\n', null);
    assert.throws(() => open(missing.output, { resume: true }), {
      message: `Cannot resume ${missing.output}: its metadata ${missing.output}.meta.json is missing, so its settings are unknown. Remove \`resume\` to start over.`,
    });
    const empty = finished('a.png,cat,ok\n', { tool: 'x' });
    assert.throws(() => open(empty.output, { resume: true }), {
      message: `Cannot resume ${empty.output}: ${empty.output}.meta.json holds no settings. Remove \`resume\` to start over.`,
    });
    // the lock was let go: a fresh run can start
    open(empty.output).close();
  });

  it('a .partial without its settings (stopped before they were written) is not resumed: a fresh run replaces it', () => {
    const output = path.join(tempDir(), 'out.csv');
    writeFileSync(`${output}.partial`, `${HEADER}\nold.png,cat,ok\n`);
    const sink = open(output, { resume: true });
    assert.equal(sink.done.size, 0);
    sink.close();
    assert.equal(readFileSync(`${output}.partial`, 'utf8'), `${HEADER}\n`);
    // the settings, with the SHA-256 of their content (a resume refuses an edited file)
    assert.deepEqual(JSON.parse(readFileSync(`${output}.partial.json`, 'utf8')), { ...settings, sha256: contentSha256(settings) });
  });

  it('resuming with nothing there starts a fresh run', () => {
    const output = path.join(tempDir(), 'out.csv');
    const sink = open(output, { resume: true });
    assert.equal(sink.done.size, 0);
    sink.close();
    assert.equal(readFileSync(`${output}.partial`, 'utf8'), `${HEADER}\n`);
  });

  it('refuses --resume on standard output and on a stream, naming which', () => {
    assert.throws(() => RunOutput.open({ output: outputTarget('-', 'the output'), format: 'csv', resume: true, header: HEADER, settings }), {
      message: '`resume` needs a regular output file: there is no earlier output to resume on stdout',
    });
    assert.throws(() => RunOutput.open({ output: outputTarget('/dev/null', 'the output'), format: 'csv', resume: true, header: HEADER, settings }), {
      message: '`resume` needs a regular output file: there is no earlier output to resume on /dev/null',
    });
  });

  it('JSONL has no header line: the first line of a file or a stream is the first row', () => {
    const output = path.join(tempDir(), 'out.jsonl');
    const sink = open(output, { format: 'jsonl', header: undefined });
    sink.write('{"path":"a.png"}');
    sink.finish({});
    assert.equal(readFileSync(output, 'utf8'), '{"path":"a.png"}\n');
    const stream = RunOutput.open({ output: outputTarget('/dev/null', 'the output'), format: 'jsonl', resume: false, header: undefined, settings });
    let written = '';
    replaceFs('writeSync', ((_fd: number, text: Uint8Array) => {
      written += Buffer.from(text).toString('utf8');
      return text.byteLength;
    }) as never);
    stream.write('{"path":"b.png"}');
    restoreFs();
    stream.close();
    assert.equal(written, '{"path":"b.png"}\n');
  });

  it('standard output: the header and rows go to process.stdout, and no file is made', () => {
    const folder = tempDir();
    const before = process.cwd();
    const chunks: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.chdir(folder);
    process.stdout.write = (chunk: string) => {
      chunks.push(chunk);
      return true;
    };
    try {
      const sink = RunOutput.open({ output: outputTarget('-', 'the output'), format: 'csv', resume: false, header: HEADER, settings });
      sink.write('a.png,cat,ok');
      sink.finish({ n: 1 });
    } finally {
      process.stdout.write = write;
      process.chdir(before);
    }
    assert.deepEqual(chunks, [`${HEADER}\n`, 'a.png,cat,ok\n']);
    assert.deepEqual(readdirSync(folder), []);
  });

  it('earlierSeed: the seed of the run --resume would continue, from .partial settings or the metadata; none otherwise', () => {
    const { output } = finished('a.png,cat,ok\n', { settings: { seed: 42 } });
    assert.equal(earlierSeed(output), 42);
    const partial = path.join(tempDir(), 'p.csv');
    writeFileSync(`${partial}.partial`, '');
    writeFileSync(`${partial}.partial.json`, JSON.stringify({ seed: 7 }));
    assert.equal(earlierSeed(partial), 7);
    assert.equal(earlierSeed(path.join(tempDir(), 'none.csv')), undefined);
    const noSeed = finished('', { settings: { seed: 'x' } });
    assert.equal(earlierSeed(noSeed.output), undefined);
    const broken = finished('', null);
    assert.equal(earlierSeed(broken.output), undefined, 'a missing metadata is reported by open, not here');
    const custom = finished('', { tool: 'x' });
    writeFileSync(path.join(path.dirname(custom.output), 'm.json'), JSON.stringify({ settings: { seed: 9 } }));
    assert.equal(earlierSeed(custom.output, path.join(path.dirname(custom.output), 'm.json')), 9);
  });
});

describe('RunOutput: a FIFO or device is written straight through', () => {
  it('rows (header first) go to the stream as they come, no .partial, no lock; finish writes the metadata where asked', async () => {
    const folder = tempDir();
    const fifo = path.join(folder, 'rows.fifo');
    execFileSync('mkfifo', [fifo]);
    const received = path.join(folder, 'received.csv');
    // the reader must be another process: opening a FIFO for writing waits for one
    const reader = spawn('sh', ['-c', `cat "${fifo}" > "${received}"`]);
    const done = new Promise((resolve) => reader.on('close', resolve));
    const sink = open(fifo);
    sink.write('a.png,cat,ok');
    const meta = path.join(folder, 'run.json');
    sink.finish({ n: 2 }, outputTarget(meta, 'the metadata'));
    await done;
    assert.equal(readFileSync(received, 'utf8'), `${HEADER}\na.png,cat,ok\n`);
    assert.deepEqual(JSON.parse(readFileSync(meta, 'utf8')), { n: 2 }, 'no output_file digest for a stream');
    assert.deepEqual(readdirSync(folder).sort(), ['received.csv', 'rows.fifo', 'run.json']);
  });

  it('a failed write to a stream names the stream and keeps nothing', async () => {
    const folder = tempDir();
    const fifo = path.join(folder, 'rows.fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn('sh', ['-c', `cat "${fifo}" > /dev/null`]);
    const done = new Promise((resolve) => reader.on('close', resolve));
    const sink = open(fifo);
    full();
    assert.throws(
      () => sink.write('a.png,cat,ok'),
      (e: unknown) => e instanceof OutputError && e.kept === undefined && e.message.startsWith(`Cannot write ${fifo}: the disk is full (ENOSPC)`),
    );
    restoreFs();
    sink.close();
    await done;
  });
});

describe('RunOutput: a failed write keeps the finished rows', () => {
  it('a file output: OutputError naming the .partial, which keeps the rows', () => {
    const output = path.join(tempDir(), 'out.csv');
    const sink = open(output);
    sink.write('a.png,cat,ok');
    full();
    assert.throws(
      () => sink.write('b.png,dog,ok'),
      (e: unknown) =>
        e instanceof OutputError && e.kept === `${output}.partial` && e.message.startsWith(`Cannot write ${output}.partial: the disk is full (ENOSPC)`),
    );
    restoreFs();
    sink.close();
    assert.equal(readFileSync(`${output}.partial`, 'utf8'), `${HEADER}\na.png,cat,ok\n`);
  });

  it('an error that is not a failed write passes through as it is (a usage error stays one), and the .partial stays', () => {
    const folder = tempDir();
    const output = path.join(folder, 'out.csv');
    mkdirSync(`${output}.meta.json`);
    const sink = open(output);
    sink.write('a.png,cat,ok');
    assert.throws(
      () => sink.finish({}),
      (e: unknown) => e instanceof UsageError && !(e instanceof OutputError) && /out\.csv\.meta\.json is a folder/.test(e.message),
    );
    assert.equal(readFileSync(`${output}.partial`, 'utf8'), `${HEADER}\na.png,cat,ok\n`);
    assert.equal(existsSync(output), false);
  });

  it('any errno failure of a write (EIO, not only a full disk) keeps the .partial', () => {
    const output = path.join(tempDir(), 'out.csv');
    const sink = open(output);
    replaceFs('writeSync', () => {
      throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    });
    assert.throws(
      () => sink.write('a.png,cat,ok'),
      (e: unknown) => e instanceof OutputError && e.kept === `${output}.partial`,
    );
    restoreFs();
    sink.close();
  });

  it('metadata that cannot be written: OutputError keeping the .partial, and no output under its name', () => {
    const output = path.join(tempDir(), 'out.csv');
    const sink = open(output);
    sink.write('a.png,cat,ok');
    full();
    assert.throws(
      () => sink.finish({ tool: 'x' }),
      (e: unknown) => e instanceof OutputError && e.kept === `${output}.partial`,
    );
    restoreFs();
    assert.equal(existsSync(output), false);
    assert.equal(readFileSync(`${output}.partial`, 'utf8'), `${HEADER}\na.png,cat,ok\n`);
    assert.equal(existsSync(`${output}.lock`), false);
  });
});
