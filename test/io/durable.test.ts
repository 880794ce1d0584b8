import assert from 'node:assert/strict';
import fs, { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { OutputError } from '../../src/errors.js';
import { writeAll, writeFileAtomicSync, writeJsonAtomic } from '../../src/io/durable.js';
import { NpyPassesWriter } from '../../src/io/npy.js';
import { RunOutput } from '../../src/io/run-output.js';
import { outputTarget } from '../../src/io/targets.js';
import { tempDir } from '../helpers/files.js';
import { replaceFs, restoreFs, restoreFsAfterEach } from '../helpers/fs-mock.js';

const replace = replaceFs;
restoreFsAfterEach();

describe('the one write path', () => {
  it('fsyncs every durable write: atomic files, the rows when a run finishes or stops, the .npy passes', () => {
    const real = fs.fsyncSync;
    const synced: number[] = [];
    replace('fsyncSync', (fd: number) => {
      synced.push(fd);
      real(fd);
    });
    const folder = tempDir();
    writeFileAtomicSync(path.join(folder, 'a.txt'), 'a');
    assert.equal(synced.length, 1, 'the atomic file');
    const output = path.join(folder, 'out.csv');
    const sink = RunOutput.open({ output: outputTarget(output, 'the output'), format: 'csv', resume: false, header: 'path', settings: {} });
    assert.equal(synced.length, 3, 'the lock and the settings of the .partial (written atomically)');
    sink.write('x.png');
    sink.finish({ done: true });
    assert.equal(synced.length, 5, 'the rows, then the metadata');
    const stopped = RunOutput.open({
      output: outputTarget(path.join(folder, 'b.csv'), 'the output'),
      format: 'csv',
      resume: false,
      header: 'path',
      settings: {},
    });
    const before: number = synced.length;
    stopped.close();
    assert.equal(synced.length, before + 1, 'an interrupted run syncs its .partial');
    const npy = NpyPassesWriter.open(path.join(folder, 'p.npy'), 1, 1, 2);
    npy.write('x.png', Float64Array.from([0.25, 0.75]));
    const beforeNpy: number = synced.length;
    npy.finish();
    assert.equal(synced.length, beforeNpy + 2, 'the .npy and its paths file');
  });

  it('short writes are continued until every byte is down', () => {
    const real = fs.writeSync;
    let calls = 0;
    // a disk that takes at most 3 bytes a call, as a filling disk does before ENOSPC
    replace('writeSync', ((fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null) => {
      calls++;
      return real(fd, buffer, offset, Math.min(3, length), position);
    }) as typeof fs.writeSync);
    const file = path.join(tempDir(), 'short.json');
    writeJsonAtomic(file, { rows: [1, 2, 3] });
    assert.equal(readFileSync(file, 'utf8'), `${JSON.stringify({ rows: [1, 2, 3] }, null, 2)}\n`);
    assert.ok(calls > 10, `${calls} calls`);
  });

  it('a failed write is an OutputError naming the final file and the cause; no temp file is left', () => {
    replace('writeSync', () => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    const folder = tempDir();
    const file = path.join(folder, 'page.html');
    assert.throws(
      () => writeFileAtomicSync(file, '<html>'),
      (e: unknown) => e instanceof OutputError && e.exitCode === 74 && e.message === `Cannot write ${file}: the disk is full (ENOSPC)`,
    );
    assert.deepEqual(readdirSync(folder), []);
  });

  it('writeAll names the reasons of every common failure', () => {
    const fd = fs.openSync(path.join(tempDir(), 'f'), 'w');
    for (const [code, words] of [
      ['EDQUOT', 'the disk quota is exceeded'],
      ['EROFS', 'the file system is read-only'],
      ['EIO', 'an input/output error'],
      ['EFBIG', 'the file is larger than the file system allows'],
    ]) {
      replace('writeSync', () => {
        throw Object.assign(new Error(code), { code });
      });
      assert.throws(
        () => writeAll(fd, 'x', 'out.csv'),
        (e: unknown) => e instanceof OutputError && e.message === `Cannot write out.csv: ${words} (${code})`,
      );
      restoreFs();
    }
    fs.closeSync(fd);
  });
});
