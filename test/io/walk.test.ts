import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
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
    assert.deepEqual(files.map((f) => path.relative(root, f)), ['Z.tiff', 'a.JPG', 'b.png', path.join('sub', 'c.webp')]);
    assert.deepEqual(skipped.map((f) => path.relative(root, f)), ['notes.txt']);
  });

  it('keeps files named directly whatever their extension, in the order given', async () => {
    const root = tempDir();
    writeFileSync(path.join(root, 'x.txt'), '');
    writeFileSync(path.join(root, 'y.png'), '');
    const { files } = await collectInputs([path.join(root, 'y.png'), path.join(root, 'x.txt')]);
    assert.deepEqual(files.map((f) => path.basename(f)), ['y.png', 'x.txt']);
  });

  it('follows symlinks but visits each real folder once (a loop ends)', async () => {
    const root = tempDir();
    mkdirSync(path.join(root, 'inner'));
    writeFileSync(path.join(root, 'inner', 'a.png'), '');
    symlinkSync('..', path.join(root, 'inner', 'up'));
    symlinkSync(path.join(root, 'inner', 'a.png'), path.join(root, 'link.png'));
    const { files } = await collectInputs([root]);
    assert.deepEqual(files.map((f) => path.relative(root, f)), [path.join('inner', 'a.png'), 'link.png']);
  });

  it('handles the committed fixture folder with its symlink loop', async () => {
    const { files } = await collectInputs([path.join(ROOT, 'fixtures', 'odd')]);
    assert.ok(files.some((f) => f.endsWith('UPPER.JPG')));
    assert.ok(files.some((f) => f.endsWith('link-to-rgb.png')));
    assert.ok(files.some((f) => f.endsWith('ünïcødé-画像.png')));
    assert.equal(new Set(files).size, files.length);
  });

  it('a missing input is a usage error naming it', async () => {
    await assert.rejects(collectInputs(['/no/such/folder']), (error: unknown) => error instanceof UsageError && /Input \/no\/such\/folder does not exist/.test(error.message));
  });
});
