import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { readNpy } from '../helpers/npy.js';

describe('predict --save-passes', () => {
  it("writes every pass as .npy (images x T x classes) whose means are the rows' means; error rows are NaN", async () => {
    const folder = tempDir();
    const files = [path.join(ROOT, 'fixtures/samples/bag-18.png'), path.join(ROOT, 'fixtures/bad/text.png'), path.join(ROOT, 'fixtures/samples/coat-10.png')];
    const { code, stdout, stderr } = await runCli([
      'predict',
      ...files,
      '-t',
      '6',
      '--seed',
      '5',
      '--device',
      'cpu',
      '-q',
      '-f',
      'jsonl',
      '--per-class',
      '--save-passes',
      path.join(folder, 'passes.npy'),
    ]);
    assert.equal(code, 1, stderr);
    const { shape, data } = readNpy(path.join(folder, 'passes.npy'));
    assert.deepEqual(shape, [3, 6, 10]);
    assert.deepEqual(JSON.parse(readFileSync(path.join(folder, 'passes.npy.paths.json'), 'utf8')), files);
    const rows = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { status: string; mean?: number[] });
    rows.forEach((row, i) => {
      const passes = data.subarray(i * 60, (i + 1) * 60);
      if (row.status === 'error') {
        assert.ok(passes.every(Number.isNaN));
        return;
      }
      for (let c = 0; c < 10; c++) {
        let mean = 0;
        for (let t = 0; t < 6; t++) mean += passes[t * 10 + c]! / 6;
        // the rows round to 6 decimals; the file holds float32 passes
        assert.ok(Math.abs(mean - row.mean![c]!) < 1e-6, `image ${i} class ${c}: ${mean} vs ${row.mean![c]}`);
      }
    });
  });

  it('refuses --resume (not supported yet) and a passes file that is also the output', async () => {
    const folder = tempDir();
    const resume = await runCli([
      'predict',
      'fixtures/samples',
      '-o',
      path.join(folder, 'o.csv'),
      '--resume',
      '--save-passes',
      path.join(folder, 'p.npy'),
      '--device',
      'cpu',
    ]);
    assert.equal(resume.code, 2);
    assert.match(resume.stderr, /Saving the passes cannot resume yet/);
    const same = await runCli([
      'predict',
      'fixtures/samples',
      '-o',
      path.join(folder, 'o.csv'),
      '--save-passes',
      path.join(folder, 'o.csv'),
      '--device',
      'cpu',
    ]);
    assert.equal(same.code, 2);
    assert.match(same.stderr, /the output and the passes file both name/);
  });
});
