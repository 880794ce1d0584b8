import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fillMask, imageKeyOf, rowSeed } from '../../src/engine/masks.js';
import { freshSeed, philox4x32, xoshiro128ss } from '../../src/stats/random.js';
import { ROOT } from '../helpers/cli.js';

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

  it('a 16-bit value equal to the threshold is kept, one below it is dropped (the boundary of v / 2^16 >= rate)', () => {
    // rates chosen so that the threshold lands exactly on the row's first draw: each half of it
    const image = { lo: 7, hi: 11 };
    const state = new Uint32Array(4);
    rowSeed(99, image, 0, 0, state);
    const first = new Uint32Array(1);
    xoshiro128ss(state, first);
    const halves = [first[0]! >>> 16, first[0]! & 0xffff];
    assert.ok(
      halves.every((h) => h > 0 && h < 0xffff),
      `halves ${halves} leave room on both sides`,
    );
    halves.forEach((half, element) => {
      const out = new Float32Array(2);
      fillMask(out, half / 65536, 99, image, 0, 0);
      assert.equal(out[element], Math.fround(1 / (1 - half / 65536)), `element ${element}: value ${half} = threshold ${half} is kept`);
      fillMask(out, (half + 1) / 65536, 99, image, 0, 0);
      assert.equal(out[element], 0, `element ${element}: value ${half} < threshold ${half + 1} is dropped`);
    });
  });

  it('rate 0 keeps everything at scale 1; rate 1 drops everything', () => {
    const out = new Float32Array(5);
    fillMask(out, 0, 1, { lo: 1, hi: 1 }, 0, 0);
    assert.deepEqual(Array.from(out), [1, 1, 1, 1, 1]);
    fillMask(out, 1, 1, { lo: 1, hi: 1 }, 0, 0);
    assert.deepEqual(Array.from(out), [0, 0, 0, 0, 0]);
  });

  it('rowSeed keys Philox with (seed mod 2^32, floor(seed / 2^32) | site << 21) at counter (0, pass, image)', () => {
    // 2^40 + 5: key words 5 and 2^8, site 3 in the top bits of the second; worked by hand
    const state = new Uint32Array(4);
    rowSeed(2 ** 40 + 5, { lo: 0x12345678, hi: 0x9abcdef0 }, 7, 3, state);
    const expected = new Uint32Array(4);
    philox4x32(0, 7, 0x12345678, 0x9abcdef0, 5, (256 | (3 << 21)) >>> 0, expected);
    assert.deepEqual(Array.from(state), Array.from(expected));
  });

  it('freshSeed gives distinct integers in [0, 2^53)', () => {
    const seeds = Array.from({ length: 200 }, () => freshSeed());
    assert.ok(
      seeds.every((s) => Number.isInteger(s) && s >= 0 && s < 2 ** 53),
      seeds.slice(0, 3).join(),
    );
    assert.equal(new Set(seeds).size, 200);
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

describe('imageKeyOf', () => {
  const keyText = (k: { lo: number; hi: number }) => `${k.lo}:${k.hi}`;

  it('gives the keys of a second implementation written from its description (fixtures/keys/image_key.py)', () => {
    const cases = JSON.parse(readFileSync(path.join(ROOT, 'fixtures/keys/image-keys.json'), 'utf8')) as Record<string, { hex: string; lo: number; hi: number }>;
    assert.equal(Object.keys(cases).length, 5);
    for (const [name, { hex, lo, hi }] of Object.entries(cases)) {
      const bytes = Buffer.from(hex, 'hex');
      const copy = new Uint8Array(bytes).buffer;
      const tensor = name.startsWith('float16') ? new Uint16Array(copy) : new Float32Array(copy);
      assert.deepEqual(imageKeyOf(tensor), { lo, hi }, name);
    }
  });

  it('depends on the values only, not on where the tensor sits in its buffer', () => {
    const values = Array.from({ length: 147 }, (_, i) => Math.sin(i) * 2);
    const alone = Float32Array.from(values);
    const inside = new Float32Array(200);
    inside.set(values, 13);
    assert.equal(keyText(imageKeyOf(inside.subarray(13, 160))), keyText(imageKeyOf(alone)));
    // a float16 tensor at a 2-byte offset (not word aligned)
    const half = Uint16Array.from(values, (v) => Math.round((v + 2) * 1000));
    const halfInside = new Uint16Array(150);
    halfInside.set(half, 1);
    assert.equal(keyText(imageKeyOf(halfInside.subarray(1, 148))), keyText(imageKeyOf(half)));
  });

  it('changes when any one element changes, including the tail words and a last half word', () => {
    // 147 elements: 36 rounds of the four lanes, 3 tail words; as float16, 73 words and a half
    for (const base of [new Float32Array(147).fill(0.5), new Uint16Array(147).fill(0x3800)]) {
      const keys = new Set([keyText(imageKeyOf(base))]);
      for (let i = 0; i < base.length; i++) {
        const changed = base.slice();
        changed[i] = base instanceof Float32Array ? 0.5000001 : 0x3801;
        keys.add(keyText(imageKeyOf(changed)));
      }
      assert.equal(keys.size, base.length + 1);
    }
  });

  it('spreads: no collision in 20,000 tensors, and its halves share half of their bits', () => {
    const keys = new Set<string>();
    let sameBits = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const key = imageKeyOf(Float32Array.from([i, i % 7, 0.25, i * 3]));
      keys.add(keyText(key));
      let agree = ~(key.lo ^ key.hi) >>> 0;
      for (; agree; agree &= agree - 1) sameBits++;
    }
    assert.equal(keys.size, n);
    // 640,000 bit pairs, each equal with probability 1/2 if the halves are independent: sd 400
    const expected = (n * 32) / 2;
    assert.ok(Math.abs(sameBits - expected) < 4 * 400, `${sameBits} equal bits, expected ${expected} ± 1,600`);
  });
});
