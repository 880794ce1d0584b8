import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { classIndexOf, readTruth } from '../../src/evaluate/truth.js';
import { tempDir } from '../helpers/files.js';

const LABELS = ['T-shirt/top', 'Trouser', 'Ankle boot'];

describe('ground truth', () => {
  it('matches a name exactly, then without case and punctuation, then as an index', () => {
    assert.equal(classIndexOf('Trouser', LABELS), 1);
    assert.equal(classIndexOf('t-shirt-top', LABELS), 0);
    assert.equal(classIndexOf('ankle_boot', LABELS), 2);
    assert.equal(classIndexOf('2', LABELS), 2);
    assert.equal(classIndexOf('3', LABELS), undefined);
    assert.equal(classIndexOf('sneaker', LABELS), undefined);
    // labels that are indices match as themselves first
    assert.equal(classIndexOf('1', ['1', '0']), 0);
  });

  it('reads a CSV with a header (path, label) or without one; paths from its folder or the working directory', () => {
    const folder = tempDir();
    mkdirSync(path.join(folder, 'images'));
    const a = path.join(folder, 'images', 'a.png');
    const b = path.join(folder, 'images', 'b.png');
    writeFileSync(path.join(folder, 'with-header.csv'), 'file,class_index\nimages/a.png,2\nimages/b.png,0\n');
    writeFileSync(path.join(folder, 'bare.csv'), `images/a.png,Ankle boot\n${b},trouser\n`);
    assert.deepEqual(
      [...readTruth({ kind: 'csv', file: path.join(folder, 'with-header.csv') }, [a, b, '/elsewhere/c.png'], LABELS)],
      [
        [a, 2],
        [b, 0],
      ],
    );
    assert.deepEqual(
      [...readTruth({ kind: 'csv', file: path.join(folder, 'bare.csv') }, [a, b], LABELS)],
      [
        [a, 2],
        [b, 1],
      ],
    );
    writeFileSync(path.join(folder, 'bad.csv'), 'path,label\nimages/a.png,Sneaker\n');
    assert.throws(
      () => readTruth({ kind: 'csv', file: path.join(folder, 'bad.csv') }, [a], LABELS),
      /bad\.csv line 2: "Sneaker" is neither a label of the model nor a class index below 3/,
    );
    writeFileSync(path.join(folder, 'nolabel.csv'), 'path,score\nimages/a.png,1\n');
    assert.throws(() => readTruth({ kind: 'csv', file: path.join(folder, 'nolabel.csv') }, [a], LABELS), /has no label column/);
  });

  it('class folders: the first folder below the input folder; files elsewhere have none', () => {
    const root = path.join(tempDir(), 'test');
    const files = [path.join(root, 'trouser', 'x.png'), path.join(root, 'ankle-boot', 'deep', 'y.png'), path.join(root, 'z.png')];
    const truth = readTruth({ kind: 'folders', roots: [root] }, files, LABELS);
    assert.deepEqual(
      [...truth],
      [
        [files[0], 1],
        [files[1], 2],
      ],
    );
  });
});
