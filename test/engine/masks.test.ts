import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fillMask, rowSeed, xoshiro128ss } from '../../src/engine/masks.js';

describe('fillMask', () => {
  it('takes two 16-bit decisions per xoshiro128** draw of the row seeded by Philox', () => {
    const image = { lo: 0x12345678, hi: 0x9abcdef0 };
    // rates at both ends of the 16-bit threshold (1 and 65536), and rows of odd and even length
    for (const rate of [0.3, 1e-9, 0.25, 0.5, 1 - 1e-9]) {
      for (const length of [4097, 4096, 1]) {
        const out = new Float32Array(length);
        fillMask(out, rate, 2 ** 40 + 5, image, 7, 3);
        // the same decisions, from the reference generator
        const state = new Uint32Array(4);
        rowSeed(2 ** 40 + 5, image, 7, 3, state);
        const draws = new Uint32Array(2049);
        xoshiro128ss(state, draws);
        const threshold = Math.ceil(rate * 65536);
        const expected = Array.from({ length }, (_, e) => {
          const half = e % 2 === 0 ? draws[e >> 1]! >>> 16 : draws[e >> 1]! & 0xffff;
          return half >= threshold ? Math.fround(1 / (1 - rate)) : 0;
        });
        assert.deepEqual(Array.from(out), expected, `rate ${rate}, length ${length}`);
      }
    }
  });

  it('rate 0 keeps everything at scale 1; rate 1 drops everything', () => {
    const out = new Float32Array(5);
    fillMask(out, 0, 1, { lo: 1, hi: 1 }, 0, 0);
    assert.deepEqual(Array.from(out), [1, 1, 1, 1, 1]);
    fillMask(out, 1, 1, { lo: 1, hi: 1 }, 0, 0);
    assert.deepEqual(Array.from(out), [0, 0, 0, 0, 0]);
  });

  it('depends on seed, image, pass and site', () => {
    const mask = (seed: number, lo: number, pass: number, site: number) => {
      const out = new Float32Array(64);
      fillMask(out, 0.5, seed, { lo, hi: 0 }, pass, site);
      return Array.from(out).join();
    };
    const base = mask(1, 1, 0, 0);
    assert.equal(mask(1, 1, 0, 0), base);
    for (const other of [mask(2, 1, 0, 0), mask(1, 2, 0, 0), mask(1, 1, 1, 0), mask(1, 1, 0, 1)]) assert.notEqual(other, base);
  });
});
