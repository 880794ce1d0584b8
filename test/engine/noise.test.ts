import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fillMask, rowSeed } from '../../src/engine/masks.js';
import { xoshiro128ss } from '../../src/stats/random.js';
import { fillNormal, fillUniform } from '../../src/engine/noise.js';

const KEY = { lo: 0x12345678, hi: 0x9abcdef0 };
const draws = (count: number, seed: number, pass: number, site: number) => {
  const state = new Uint32Array(4);
  rowSeed(seed, KEY, pass, site, state);
  const out = new Uint32Array(count);
  xoshiro128ss(state, out);
  return out;
};

describe('random-op draws', () => {
  it('pins the streams of (seed 42, image key, pass 3, site 2): a change of scheme cannot pass silently', () => {
    // recorded once (mask scheme 2); masks.test.ts derives the mask stream from the reference generators
    const u = new Float32Array(6);
    fillUniform(u, 0, 1, 42, KEY, 3, 2);
    assert.deepEqual(Array.from(u), [0.708666205406189, 0.9654459357261658, 0.6545444130897522, 0.2243322730064392, 0.20944935083389282, 0.3264927268028259]);
    const n = new Float32Array(5);
    fillNormal(n, 0, 1, 42, KEY, 3, 2);
    assert.deepEqual(Array.from(n), [0.8104215860366821, -0.17876800894737244, 0.14783816039562225, 0.9087218642234802, -0.817488968372345]);
    const m = new Float32Array(8);
    fillMask(m, 0.25, 42, KEY, 3, 2);
    const s = Math.fround(4 / 3);
    assert.deepEqual(Array.from(m), [s, 0, s, s, s, 0, 0, s]);
  });

  it('uniforms are the top 24 bits of each draw of the row generator, scaled to [low, high)', () => {
    const out = new Float32Array(9);
    fillUniform(out, -2, 6, 2 ** 40 + 1, KEY, 5, 7);
    const d = draws(9, 2 ** 40 + 1, 5, 7);
    assert.deepEqual(
      Array.from(out),
      Array.from(d, (x) => Math.fround(-2 + 8 * ((x >>> 8) / 2 ** 24))),
    );
  });

  it('normals are Box-Muller on consecutive draw pairs, an odd row ending on a cosine', () => {
    const out = new Float32Array(3);
    fillNormal(out, 1, 0.5, 9, KEY, 0, 1);
    const d = draws(4, 9, 0, 1);
    const pair = (j: number) => {
      const r = Math.sqrt(-2 * Math.log(((d[2 * j]! >>> 8) + 1) / 2 ** 24));
      const a = 2 * Math.PI * ((d[2 * j + 1]! >>> 8) / 2 ** 24);
      return [1 + 0.5 * r * Math.cos(a), 1 + 0.5 * r * Math.sin(a)];
    };
    assert.deepEqual(Array.from(out), [...pair(0), pair(1)[0]!].map(Math.fround));
  });

  it('have the moments of their distributions (20,000 draws; bounds 5 standard errors)', () => {
    const n = 20000;
    const u = new Float32Array(n);
    fillUniform(u, 0, 1, 3, KEY, 0, 0);
    const mean = u.reduce((a, b) => a + b, 0) / n;
    const variance = u.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    // uniform: mean 1/2 (sd of the mean sqrt(1/12/n)), variance 1/12 (sd of the variance sqrt(1/180/n))
    assert.ok(Math.abs(mean - 0.5) < 5 * Math.sqrt(1 / 12 / n), `uniform mean ${mean}`);
    assert.ok(Math.abs(variance - 1 / 12) < 5 * Math.sqrt(1 / 180 / n), `uniform variance ${variance}`);
    const z = new Float32Array(n);
    fillNormal(z, 0, 1, 3, KEY, 0, 0);
    const zMean = z.reduce((a, b) => a + b, 0) / n;
    const zVar = z.reduce((a, b) => a + (b - zMean) ** 2, 0) / n;
    const zKurt = z.reduce((a, b) => a + (b - zMean) ** 4, 0) / n / zVar ** 2;
    // normal: mean 0 (sd 1/sqrt(n)), variance 1 (sd sqrt(2/n)), kurtosis 3 (sd sqrt(24/n))
    assert.ok(Math.abs(zMean) < 5 / Math.sqrt(n), `normal mean ${zMean}`);
    assert.ok(Math.abs(zVar - 1) < 5 * Math.sqrt(2 / n), `normal variance ${zVar}`);
    assert.ok(Math.abs(zKurt - 3) < 5 * Math.sqrt(24 / n), `normal kurtosis ${zKurt}`);
  });

  it('depend on seed, pass and site', () => {
    const row = (seed: number, pass: number, site: number) => {
      const out = new Float32Array(16);
      fillUniform(out, 0, 1, seed, KEY, pass, site);
      return Array.from(out).join();
    };
    const base = row(1, 0, 0);
    assert.notEqual(row(2, 0, 0), base);
    assert.notEqual(row(1, 1, 0), base);
    assert.notEqual(row(1, 0, 1), base);
    assert.equal(row(1, 0, 0), base);
  });
});
