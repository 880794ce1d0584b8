import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { conformalUniformOf } from '../../src/conformal/sets.js';
import { philox4x32 } from '../../src/stats/random.js';

/** FNV-1a 64 over UTF-16 code units, in BigInt: the reference for the 32-bit halves the library multiplies. */
function fnv1a64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) h = ((h ^ BigInt(text.charCodeAt(i))) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h;
}

describe('conformalUniformOf: one APS/RAPS uniform per image, from (seed, path)', () => {
  it('is Philox4x32-10 at the 64-bit FNV-1a hash of the name (BigInt reference), first word / 2^32', () => {
    const names = ['', 'a', 'fixtures/samples/bag-18.png', 'ünïcödé/画像.jpg', 'x'.repeat(1000), 'images/\u{1F600}.png'];
    for (const seed of [0, 1, 7, 2 ** 32 + 5, 2 ** 53 - 1]) {
      for (const name of names) {
        const h = fnv1a64(name);
        const out = new Uint32Array(4);
        philox4x32(Number(h & 0xffffffffn), Number(h >> 32n), 1, 0, seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, out);
        assert.equal(conformalUniformOf(seed, name), out[0]! / 2 ** 32, `${seed} ${name}`);
      }
    }
  });

  it('is uniform over names: Kolmogorov-Smirnov distance of 20,000 names under 1.63/sqrt(n) (p = 0.01)', () => {
    const n = 20_000;
    const u = Array.from({ length: n }, (_, i) => conformalUniformOf(11, `images/img-${i}.jpg`)).sort((a, b) => a - b);
    let d = 0;
    u.forEach((v, i) => (d = Math.max(d, Math.abs(v - i / n), Math.abs(v - (i + 1) / n))));
    assert.ok(d < 1.63 / Math.sqrt(n), `D = ${d}`);
    assert.notEqual(conformalUniformOf(11, 'a.png'), conformalUniformOf(12, 'a.png'), 'the seed changes it');
  });
});
