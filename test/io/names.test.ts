import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bytesOfName, csvName, csvNameClash, fsPath, hasRawBytes, nameFromBytes } from '../../src/io/names.js';

const bytes = (...values: number[]) => Buffer.from(values);

describe('file names that are not valid UTF-8 (surrogateescape, as Python os.fsdecode)', () => {
  it('valid UTF-8 decodes as text; every other byte as U+DC00 + byte (hand-checked cases)', () => {
    assert.equal(nameFromBytes(Buffer.from('café 😀.jpg', 'utf8')), 'café 😀.jpg');
    assert.equal(nameFromBytes(bytes(0x61, 0xff, 0x62)), 'a\udcffb');
    assert.equal(nameFromBytes(bytes(0xc0, 0xaf)), '\udcc0\udcaf', 'an overlong "/" is two raw bytes');
    assert.equal(nameFromBytes(bytes(0xed, 0xa0, 0x80)), '\udced\udca0\udc80', 'an encoded UTF-16 surrogate is not UTF-8');
    assert.equal(nameFromBytes(bytes(0xf4, 0x90, 0x80, 0x80)), '\udcf4\udc90\udc80\udc80', 'past U+10FFFF');
    assert.equal(nameFromBytes(bytes(0xe2, 0x82)), '\udce2\udc82', 'a sequence cut short');
    assert.equal(nameFromBytes(bytes(0xe2, 0x82, 0xac)), '€');
  });

  it('bytesOfName inverts nameFromBytes on 2,000 random byte strings (seeded)', () => {
    let state = 12345;
    for (let n = 0; n < 2000; n++) {
      const length = 1 + (n % 17);
      const raw = Buffer.alloc(length);
      for (let i = 0; i < length; i++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        raw[i] = state >>> 24;
      }
      const name = nameFromBytes(raw);
      assert.deepEqual(bytesOfName(name), raw);
      assert.equal(hasRawBytes(name), raw.toString('utf8') !== name || !Buffer.from(name, 'utf8').equals(raw));
    }
  });

  it('fsPath gives node:fs the string for a valid name and the bytes otherwise; csvName escapes only such names', () => {
    assert.equal(fsPath('plain/caf\u00e9.png'), 'plain/caf\u00e9.png');
    assert.deepEqual(fsPath('a\udcffb'), bytes(0x61, 0xff, 0x62));
    assert.equal(csvName('back\\slash.png'), 'back\\slash.png', 'a valid name is written as it is');
    assert.equal(csvName('dir\\x/a\udcff\udc80.png'), 'dir\\\\x/a\\xff\\x80.png');
    assert.equal(hasRawBytes('😀'), false, 'a surrogate pair is one valid character');
  });

  it('csvNameClash finds a name with raw bytes and a valid name spelled as its escape, and nothing else', () => {
    // a\xe9.jpg: the byte 0xE9 (not UTF-8 here) and the six characters a, \, x, e, 9 ... as a valid name
    assert.deepEqual(csvNameClash(['d/b.jpg', 'd/a\udce9.jpg', 'd/a\\xe9.jpg']), ['d/a\udce9.jpg', 'd/a\\xe9.jpg']);
    assert.deepEqual(csvNameClash(['d/a\\xe9.jpg', 'd/a\udce9.jpg']), ['d/a\udce9.jpg', 'd/a\\xe9.jpg'], 'the raw name first, whatever the order');
    assert.equal(csvNameClash(['d/a\udce9.jpg', 'd/a\\xE9.jpg']), undefined, 'the escape is lower case: A-F is another name');
    assert.equal(csvNameClash(['d/a\udce9.jpg', 'd/a\udcff.jpg', 'd/a\\xe8.jpg', 'd/café.jpg']), undefined);
    assert.equal(csvNameClash(['x\\y.jpg', 'x\\y.jpg']), undefined, "a name given twice is the walk's to drop, not a clash");
    // a backslash in a raw name is doubled, so it cannot meet a valid name with one backslash
    assert.equal(csvNameClash(['q\\\udcff.jpg', 'q\\\\xff.jpg']), undefined);
    assert.deepEqual(csvNameClash(['q\\\udcff.jpg', 'q\\\\\\xff.jpg']), ['q\\\udcff.jpg', 'q\\\\\\xff.jpg']);
  });
});
