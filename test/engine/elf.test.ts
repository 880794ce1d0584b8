import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { neededLibraries } from '../../src/engine/elf.js';
import { cudaLibrariesOf, cudaMajorOf } from '../../src/engine/providers.js';
import { elfWith } from '../helpers/elf.js';
import { tempDir } from '../helpers/files.js';

describe("neededLibraries reads an ELF file's DT_NEEDED entries", () => {
  const folder = tempDir();

  it('lists the needed libraries in order, skipping other dynamic entries', () => {
    const file = path.join(folder, 'provider.so');
    writeFileSync(file, elfWith(['libcublasLt.so.13', 'libcudart.so.13', 'libc.so.6']));
    assert.deepEqual(neededLibraries(file), ['libcublasLt.so.13', 'libcudart.so.13', 'libc.so.6']);
  });

  it('undefined for a file that is not ELF, an empty file, a truncated one and a missing one', () => {
    const text = path.join(folder, 'text.so');
    writeFileSync(text, 'not an elf file at all, but long enough to hold a header of sixty-four bytes');
    const empty = path.join(folder, 'empty.so');
    writeFileSync(empty, '');
    const truncated = path.join(folder, 'truncated.so');
    writeFileSync(truncated, elfWith(['libcudart.so.13']).subarray(0, 100));
    for (const file of [text, empty, truncated, path.join(folder, 'missing.so')]) assert.equal(neededLibraries(file), undefined, file);
  });
});

describe('the CUDA libraries a provider needs come from its own file', () => {
  it('a CUDA 13 build: its CUDA entries, not the driver or the C library, plus cuDNN 9', () => {
    const needed = ['libcublasLt.so.13', 'libcublas.so.13', 'libcurand.so.10', 'libcudart.so.13', 'libcuda.so.1', 'libdl.so.2', 'libstdc++.so.6', 'libc.so.6'];
    assert.deepEqual(cudaLibrariesOf(needed), ['libcublasLt.so.13', 'libcublas.so.13', 'libcurand.so.10', 'libcudart.so.13', 'libcudnn.so.9']);
    assert.equal(cudaMajorOf(cudaLibrariesOf(needed)), 13);
  });

  it("no readable provider file: onnxruntime-node's CUDA 12 list", () => {
    assert.deepEqual(cudaLibrariesOf(undefined), [
      'libcudart.so.12',
      'libcublas.so.12',
      'libcublasLt.so.12',
      'libcurand.so.10',
      'libcufft.so.11',
      'libcudnn.so.9',
    ]);
    assert.equal(cudaMajorOf(cudaLibrariesOf(undefined)), 12);
  });
});
