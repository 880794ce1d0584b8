import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { philox4x32, xoshiro128ss } from '../../src/stats/random.js';

// Known-answer vectors published with Random123 (kat_vectors, philox4x32 10 rounds).
const KAT: [number[], number[], string][] = [
  [[0, 0, 0, 0], [0, 0], '6627e8d5 e169c58d bc57ac4c 9b00dbd8'],
  [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], '408f276d 41c83b0e a20bc7c6 6d5451fd'],
  [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], 'd16cfe09 94fdcceb 5001e420 24126ea1'],
];

describe('philox4x32', () => {
  for (const [counter, key, expected] of KAT) {
    it(`matches Random123 for counter ${counter.map((c) => c.toString(16)).join(' ')}`, () => {
      const out = new Uint32Array(4);
      philox4x32(counter[0]!, counter[1]!, counter[2]!, counter[3]!, key[0]!, key[1]!, out);
      assert.equal(Array.from(out, (w) => w.toString(16).padStart(8, '0')).join(' '), expected);
    });
  }
});

describe('xoshiro128ss', () => {
  it('matches the reference sequence for state (1, 2, 3, 4)', () => {
    // first outputs of Blackman & Vigna's xoshiro128starstar.c from s = {1, 2, 3, 4}
    const state = Uint32Array.from([1, 2, 3, 4]);
    const out = new Uint32Array(6);
    xoshiro128ss(state, out);
    assert.deepEqual(Array.from(out), [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('continues the same stream across calls', () => {
    const a = Uint32Array.from([9, 8, 7, 6]);
    const whole = new Uint32Array(10);
    xoshiro128ss(a, whole);
    const b = Uint32Array.from([9, 8, 7, 6]);
    const first = new Uint32Array(4);
    const rest = new Uint32Array(6);
    xoshiro128ss(b, first);
    xoshiro128ss(b, rest);
    assert.deepEqual([...first, ...rest], Array.from(whole));
  });
});
