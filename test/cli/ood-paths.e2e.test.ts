/**
 * `evaluate --ood` on paths that would otherwise pass silently (#34): OOD images that fail count as
 * failures (exit 1, each named), and an OOD path that is missing, empty, not an image file or not a
 * regular file is a usage error naming it (exit 2) before the model runs, with no JSON written.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

const EVALUATE = ['evaluate', 'fixtures/samples', '--truth', 'fixtures/samples.csv', '-t', '2', '--seed', '1', '--device', 'cpu', '--no-progress'];

describe('evaluate --ood: failures and unusable paths', () => {
  it('OOD images that fail are named and make the run exit 1; with none left there are no OOD metrics', async () => {
    const folder = tempDir();
    const ood = path.join(folder, 'ood');
    mkdirSync(ood);
    writeFileSync(path.join(ood, 'broken-1.png'), 'not a png');
    writeFileSync(path.join(ood, 'broken-2.jpg'), '');
    const none = await runCli([...EVALUATE, '--ood', ood]);
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stderr, /broken-1\.png: not an image \(left out\)/);
    assert.match(none.stderr, /broken-2\.jpg: empty file \(left out\)/);
    assert.match(none.stdout, /\nOut of distribution: 0 images \(2 failed\); no OOD metrics/);

    copyFileSync(path.join(ROOT, 'fixtures/ood/images/brick-whole.png'), path.join(ood, 'brick-whole.png'));
    const json = path.join(folder, 'eval.json');
    const some = await runCli([...EVALUATE, '--ood', ood, '--json', json]);
    assert.equal(some.code, 1, some.stderr);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(report.ood.images, 1);
    assert.equal(report.ood.failed, 2);
    assert.equal(report.counts.failed, 0);
    assert.ok(report.ood.scores.length >= 5);
  });

  it('a missing, empty, non-image or non-regular OOD path is a usage error naming it (exit 2), with no JSON written', async () => {
    const folder = tempDir();
    const empty = path.join(folder, 'empty');
    mkdirSync(empty);
    writeFileSync(path.join(empty, 'notes.txt'), 'no images here');
    const text = path.join(folder, 'list.txt');
    writeFileSync(text, 'fixtures/ood/images/brick-whole.png\n');
    const cases: [string, RegExp][] = [
      [
        path.join(folder, 'missing'),
        /Cannot read the out-of-distribution images \S*missing: no such file; --ood takes folders of out-of-distribution images or image files/,
      ],
      [empty, /No out-of-distribution images in \S*empty \(1 files without an image extension\); --ood takes/],
      [text, /The out-of-distribution path \S*list\.txt is not an image file or a folder; --ood takes/],
      ['/dev/zero', /The out-of-distribution path \/dev\/zero is not a folder or a regular file; --ood takes/],
    ];
    for (const [given, message] of cases) {
      const json = path.join(folder, 'eval.json');
      const { code, stderr } = await runCli([...EVALUATE, '--ood', 'fixtures/ood/images', '--ood', given, '--json', json]);
      assert.equal(code, 2, `${given}: ${stderr}`);
      assert.match(stderr, message);
      assert.equal(existsSync(json), false);
    }
  });
});
