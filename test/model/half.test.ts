import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHalfBits, toHalfBits } from '../../src/model/half.js';

describe('float16 conversion', () => {
  it('encodes exact values to their IEEE 754 binary16 bits', () => {
    assert.equal(toHalfBits(1), 0x3c00);
    assert.equal(toHalfBits(-2), 0xc000);
    assert.equal(toHalfBits(65504), 0x7bff); // largest finite
    assert.equal(toHalfBits(2 ** -14), 0x0400); // smallest normal
    assert.equal(toHalfBits(2 ** -24), 0x0001); // smallest subnormal
    assert.equal(toHalfBits(0), 0);
    assert.equal(toHalfBits(-0), 0x8000);
  });

  it('rounds to nearest, ties to even, and overflows to infinity', () => {
    assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00); // halfway between 1 and 1+2^-10: to even (1)
    assert.equal(toHalfBits(1 + 3 * 2 ** -11), 0x3c02); // halfway between 1+2^-10 and 1+2^-9: to even
    assert.equal(toHalfBits(1 + 2 ** -11 + 2 ** -20), 0x3c01); // just above halfway: up
    assert.equal(toHalfBits(65520), 0x7c00); // rounds past the largest finite
    assert.equal(toHalfBits(Infinity), 0x7c00);
    assert.equal(toHalfBits(2 ** -25), 0); // halfway to the smallest subnormal: to even (0)
  });

  it('decodes bits back to the same values', () => {
    for (const v of [1, -2, 65504, 2 ** -14, 2 ** -24, 0.333251953125]) assert.equal(fromHalfBits(toHalfBits(v)), v);
    assert.ok(Number.isNaN(fromHalfBits(0x7e00)));
  });
});
