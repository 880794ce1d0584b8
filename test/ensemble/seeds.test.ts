/** memberSeed: a plain run keeps its seed; members and views get their own, from digests and names, not positions. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memberSeed } from '../../src/ensemble/seeds.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('memberSeed', () => {
  it('one member on the identity view keeps the run seed (a plain run is unchanged)', () => {
    assert.equal(memberSeed(7, A, 'identity', true), 7);
    assert.equal(memberSeed(2 ** 53 - 1, A, 'identity', true), 2 ** 53 - 1);
  });

  it('in an ensemble, each member gets its own seed from (seed, digest), an integer in [0, 2^53)', () => {
    const seeds = [memberSeed(7, A, 'identity', false), memberSeed(7, B, 'identity', false), memberSeed(8, A, 'identity', false)];
    assert.equal(new Set([...seeds, 7]).size, 4);
    for (const s of seeds) assert.ok(Number.isSafeInteger(s) && s >= 0, String(s));
    // the same digest gives the same seed whatever else is in the ensemble
    assert.equal(memberSeed(7, A, 'identity', false), seeds[0]);
  });

  it('a view other than the identity gets a seed of its own, for a lone member too', () => {
    const flip = memberSeed(7, A, 'flip', true);
    assert.notEqual(flip, 7);
    assert.notEqual(flip, memberSeed(7, A, 'crop-tl', true));
    assert.notEqual(memberSeed(7, A, 'flip', false), flip);
  });
});
