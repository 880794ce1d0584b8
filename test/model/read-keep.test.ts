/** readOnnxFileToKeep: the look before a run hands its read to the run's own read, once, and only for the same unchanged file. */
import assert from 'node:assert/strict';
import { utimesSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { readOnnxFile, readOnnxFileToKeep } from '../../src/model/read.js';
import { writeModel } from '../helpers/files.js';
import { segmentationModel, testValues } from '../helpers/graphs.js';

describe('readOnnxFileToKeep', () => {
  it('hands its read to the next readOnnxFile of the same file, once; a changed file or another file is read afresh', async () => {
    const bytes = segmentationModel(0.5, 2, 2, testValues(6, 1), 2);
    const file = writeModel(bytes);
    const looked = await readOnnxFileToKeep(file);
    assert.equal(await readOnnxFile(file), looked, 'the same read, not a second decode');
    assert.notEqual(await readOnnxFile(file), looked, 'handed over once');

    await readOnnxFileToKeep(file);
    const other = writeModel(bytes);
    assert.notEqual(await readOnnxFile(other), looked);
    assert.notEqual(await readOnnxFile(file), looked, 'another read in between drops the kept one');

    const kept = await readOnnxFileToKeep(file);
    writeFileSync(file, segmentationModel(0.5, 2, 2, testValues(6, 2), 2));
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const fresh = await readOnnxFile(file);
    assert.notEqual(fresh, kept, 'a file changed since is read again');
    assert.notEqual(fresh.sha256, kept.sha256);
  });
});
