import assert from 'node:assert/strict';
import { mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { collectInputs } from '../../src/io/walk.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

describe('collectInputs', () => {
  it('walks folders recursively in sorted order, skipping hidden entries and non-images', async () => {
    const root = tempDir();
    for (const file of ['b.png', 'a.JPG', '.hidden.png', 'notes.txt', 'sub/c.webp', 'sub/.git/d.png', 'Z.tiff']) {
      mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      writeFileSync(path.join(root, file), '');
    }
    const { files, skipped } = await collectInputs([root]);
    assert.deepEqual(
      files.map((f) => path.relative(root, f)),
      ['Z.tiff', 'a.JPG', 'b.png', path.join('sub', 'c.webp')],
    );
    assert.deepEqual(
      skipped.map((f) => path.relative(root, f)),
      ['notes.txt'],
    );
  });

  it('a folder of more entries than one block of stats (1,024) comes back whole, sorted, with every size', async () => {
    const folder = tempDir();
    const names = Array.from({ length: 2500 }, (_, i) => `img-${String((i * 7919) % 2500).padStart(4, '0')}.png`);
    names.forEach((name, i) => writeFileSync(path.join(folder, name), Buffer.alloc(i % 5)));
    writeFileSync(path.join(folder, 'notes.txt'), 'x');
    const walked = await collectInputs([folder]);
    assert.deepEqual(
      walked.files,
      [...names].sort().map((n) => path.join(folder, n)),
    );
    assert.deepEqual(
      walked.sizes,
      walked.files.map((f) => statSync(f).size),
    );
    assert.deepEqual(walked.skipped, [path.join(folder, 'notes.txt')]);
  });

  it('keeps files named directly whatever their extension, in the order given', async () => {
    const root = tempDir();
    writeFileSync(path.join(root, 'x.txt'), '');
    writeFileSync(path.join(root, 'y.png'), '');
    const { files } = await collectInputs([path.join(root, 'y.png'), path.join(root, 'x.txt')]);
    assert.deepEqual(
      files.map((f) => path.basename(f)),
      ['y.png', 'x.txt'],
    );
  });

  it('follows symlinks but visits each real folder once (a loop ends)', async () => {
    const root = tempDir();
    mkdirSync(path.join(root, 'inner'));
    writeFileSync(path.join(root, 'inner', 'a.png'), '');
    symlinkSync('..', path.join(root, 'inner', 'up'));
    symlinkSync(path.join(root, 'inner', 'a.png'), path.join(root, 'link.png'));
    const { files, duplicates } = await collectInputs([root]);
    // the link is the same file as inner/a.png: one image, read once under the first name
    assert.deepEqual(
      files.map((f) => path.relative(root, f)),
      [path.join('inner', 'a.png')],
    );
    assert.deepEqual(
      duplicates.map((d) => [path.relative(root, d.file), path.relative(root, d.first)]),
      [['link.png', path.join('inner', 'a.png')]],
    );
  });

  it('an image named twice, or under two spellings, is one input: the later names are duplicates of the first', async () => {
    const root = tempDir();
    writeFileSync(path.join(root, 'a.png'), 'x');
    writeFileSync(path.join(root, 'b.png'), 'x');
    const a = path.join(root, 'a.png');
    const { files, sizes, duplicates } = await collectInputs([a, root, `${root}/./a.png`]);
    assert.deepEqual(files, [a, path.join(root, 'b.png')]);
    assert.deepEqual(sizes, [1, 1]);
    assert.deepEqual(duplicates, [
      { file: a, first: a },
      { file: `${root}/./a.png`, first: a },
    ]);
  });

  it('handles the committed fixture folder with its symlink loop', async () => {
    const { files } = await collectInputs([path.join(ROOT, 'fixtures', 'odd')]);
    assert.ok(files.some((f) => f.endsWith('UPPER.JPG')));
    assert.ok(files.some((f) => f.endsWith('link-to-rgb.png')));
    assert.ok(files.some((f) => f.endsWith('ünïcødé-画像.png')));
    assert.equal(new Set(files).size, files.length);
  });

  it('a missing input, a broken link and a dangling named link are error entries at their place, not the end of the batch', async () => {
    const root = tempDir();
    writeFileSync(path.join(root, 'a.png'), '');
    symlinkSync(path.join(root, 'gone.png'), path.join(root, 'broken.png'));
    symlinkSync(path.join(root, 'gone'), path.join(root, 'notes'));
    const { files, errors, skipped } = await collectInputs(['/no/such/file.png', root, path.join(root, 'broken.png')]);
    assert.deepEqual(files, ['/no/such/file.png', path.join(root, 'a.png'), path.join(root, 'broken.png'), path.join(root, 'broken.png')]);
    assert.deepEqual(
      [...errors],
      [
        ['/no/such/file.png', 'no such file'],
        [path.join(root, 'broken.png'), 'broken symbolic link'],
      ],
    );
    assert.deepEqual(skipped, [path.join(root, 'notes')], 'a broken link without an image extension is skipped like other non-images');
  });

  it('an input that is also an output is a usage error', async () => {
    const root = tempDir();
    const file = path.join(root, 'x.png');
    writeFileSync(file, '');
    const info = statSync(file);
    await assert.rejects(
      collectInputs([root], new Map([[`${info.dev}:${info.ino}`, 'the output (x.png)']])),
      (error: unknown) => error instanceof UsageError && /x\.png is an input image and also the output \(x\.png\)/.test(error.message),
    );
  });
});
