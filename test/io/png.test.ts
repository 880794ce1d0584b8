import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import sharp from 'sharp';
import { InputError, UsageError } from '../../src/errors.js';
import { encodePng, readClassIndexPng, type PngPixels } from '../../src/io/png.js';
import { ROOT } from '../helpers/cli.js';

const FIXTURES = path.join(ROOT, 'fixtures', 'png');
/** fixtures/png/index.json: what make_png_fixtures.py wrote into each mask (Pillow read each back). */
const INDEX = JSON.parse(readFileSync(path.join(FIXTURES, 'index.json'), 'utf8')) as {
  file: string;
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlace: number;
  indices: number[];
}[];

/** Seeded LCG bytes: the same "random" image every run. */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

/** Bitwise CRC-32, written apart from the module's table so a shared mistake cannot hide. */
function crc(bytes: Uint8Array): number {
  let c = ~0;
  for (const byte of bytes) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A PNG from chunks [type, data], each given its length and CRC. */
function png(...chunks: [string, Uint8Array][]): Buffer {
  const parts = chunks.map(([type, data]) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), body.length + 4);
    return out;
  });
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), ...parts]);
}

const IEND: [string, Buffer] = ['IEND', Buffer.alloc(0)];

/** IHDR data: width, height, depth, colour type, then compression, filter, interlace. */
function ihdr(width: number, height: number, depth = 8, colorType = 0, interlace = 0): Buffer {
  const out = Buffer.alloc(13);
  out.writeUInt32BE(width, 0);
  out.writeUInt32BE(height, 4);
  out.set([depth, colorType, 0, 0, interlace], 8);
  return out;
}

/** An 8-bit grey PNG of width x height whose IDAT holds the given raw (filter bytes included) data. */
function grayWithRaw(width: number, height: number, raw: Uint8Array): Buffer {
  return png(['IHDR', ihdr(width, height)], ['IDAT', deflateSync(raw)], IEND);
}

/** The chunks of a PNG as [type, data], in order. */
function chunksOf(bytes: Buffer): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  for (let at = 8; at < bytes.length; at += 12 + bytes.readUInt32BE(at)) {
    out.push([bytes.toString('latin1', at + 4, at + 8), bytes.subarray(at + 8, at + 8 + bytes.readUInt32BE(at))]);
  }
  return out;
}

/** Asserts that reading bytes as `name` throws an InputError whose message starts with the name and matches reason. */
function refuses(bytes: Uint8Array, name: string, reason: RegExp): void {
  assert.throws(
    () => readClassIndexPng(bytes, name),
    (e: unknown) => e instanceof InputError && e.file === name && e.message.startsWith(`${name}: `) && reason.test(e.message),
  );
}

const pattern = (width: number, height: number, f: (x: number, y: number) => number) =>
  Array.from({ length: width * height }, (_, i) => f(i % width, Math.floor(i / width)));

describe('encodePng round trips: our reader and sharp (libspng) read back what was written', () => {
  const W = 37;
  const H = 23;
  const classes = Uint8Array.from(pattern(W, H, (x, y) => (3 * x + 5 * y) % 21));

  it('gray8: class indices come back from readClassIndexPng and from sharp', async () => {
    const bytes = encodePng({ kind: 'gray8', width: W, height: H, data: classes });
    assert.deepEqual(readClassIndexPng(bytes, 'a.png'), { width: W, height: H, indices: Uint16Array.from(classes) });
    const { data, info } = await sharp(bytes).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [W, H, 1]);
    assert.deepEqual(new Uint8Array(data), classes);
  });

  it('gray16: every 16-bit value survives, big-endian, in our reader and in sharp (.raw depth ushort)', async () => {
    const data = Uint16Array.from(pattern(W, H, (x, y) => (x * 1771 + y * 2903 + x * y * 13) % 65536));
    data[0] = 65535;
    data[1] = 256;
    const bytes = encodePng({ kind: 'gray16', width: W, height: H, data });
    assert.deepEqual(readClassIndexPng(bytes, 'u.png').indices, data);
    const out = await sharp(bytes).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    assert.deepEqual([out.info.width, out.info.height, out.info.channels], [W, H, 1]);
    assert.deepEqual(new Uint16Array(out.data.buffer, out.data.byteOffset, out.data.length / 2), data);
  });

  it('rgb8: sharp reads the same interleaved bytes (noise and gradients, so every filter gets picked)', async () => {
    const data = new Uint8Array(W * H * 3);
    const random = noise(data.length, 7);
    data.forEach((_, i) => (data[i] = Math.floor(i / (W * 3)) % 3 === 0 ? random[i]! : (i * 5) % 251));
    const bytes = encodePng({ kind: 'rgb8', width: W, height: H, data });
    const filters = new Set(filterBytes(bytes, W * 3, H));
    assert.ok(filters.size >= 3, `filters used: ${[...filters].join(', ')}`);
    const out = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([out.info.width, out.info.height, out.info.channels], [W, H, 3]);
    assert.deepEqual(new Uint8Array(out.data), data);
  });

  it('indexed8: indices come back as they are, a PLTE chunk holds the palette, and sharp sees its colours', async () => {
    const palette = Uint8Array.from({ length: 21 * 3 }, (_, i) => (i * 37) % 256);
    const bytes = encodePng({ kind: 'indexed8', width: W, height: H, data: classes, palette });
    assert.deepEqual(readClassIndexPng(bytes, 'p.png').indices, Uint16Array.from(classes));
    assert.deepEqual(chunksOf(bytes).find(([type]) => type === 'PLTE')?.[1], Buffer.from(palette));
    const out = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    assert.equal(out.info.channels, 3);
    assert.deepEqual(new Uint8Array(out.data), Uint8Array.from([...classes].flatMap((c) => [...palette.subarray(3 * c, 3 * c + 3)])));
  });

  it('1x1 images of every kind, and the same bytes for the same input', () => {
    const kinds: PngPixels[] = [
      { kind: 'gray8', width: 1, height: 1, data: Uint8Array.of(9) },
      { kind: 'gray16', width: 1, height: 1, data: Uint16Array.of(40000) },
      { kind: 'rgb8', width: 1, height: 1, data: Uint8Array.of(1, 2, 3) },
      { kind: 'indexed8', width: 1, height: 1, data: Uint8Array.of(0), palette: Uint8Array.of(4, 5, 6) },
    ];
    for (const pixels of kinds) assert.deepEqual(encodePng(pixels), encodePng(pixels), pixels.kind);
    assert.deepEqual(readClassIndexPng(encodePng(kinds[1]!), 'one.png').indices, Uint16Array.of(40000));
  });
});

/** Each row's filter type byte of a non-interlaced PNG whose rows are stride bytes. */
function filterBytes(bytes: Buffer, stride: number, height: number): number[] {
  const raw = inflateSync(Buffer.concat(chunksOf(bytes).flatMap(([type, data]) => (type === 'IDAT' ? [data] : []))));
  return Array.from({ length: height }, (_, r) => raw[r * (stride + 1)]!);
}

describe('readClassIndexPng on masks other encoders wrote (fixtures/png/make_png_fixtures.py: Pillow, and by hand read back by Pillow)', () => {
  for (const entry of INDEX) {
    const kind = `${entry.colorType === 3 ? 'indexed' : 'grey'} ${entry.depth}-bit${entry.interlace ? ', Adam7' : ''}`;
    it(`${entry.file} (${kind}, ${entry.width}x${entry.height}): the indices the script wrote`, () => {
      const got = readClassIndexPng(readFileSync(path.join(FIXTURES, entry.file)), entry.file);
      assert.deepEqual(got, { width: entry.width, height: entry.height, indices: Uint16Array.from(entry.indices) });
    });
  }

  it('the fixtures cover every depth and colour type a mask may have, Adam7, a VOC void border (255) and all five filter types', () => {
    const kinds = new Set(INDEX.map((e) => `${e.colorType}/${e.depth}`));
    for (const kind of ['0/1', '0/2', '0/4', '0/8', '0/16', '3/1', '3/2', '3/4', '3/8']) assert.ok(kinds.has(kind), kind);
    assert.ok(INDEX.some((e) => e.interlace === 1 && e.depth < 8));
    assert.ok(INDEX.find((e) => e.file === 'voc-p8.png')?.indices.includes(255));
    const filters = filterBytes(readFileSync(path.join(FIXTURES, 'gray-l8-filters-hand.png')), 13, 7);
    assert.deepEqual([...new Set(filters)].sort(), [0, 1, 2, 3, 4]);
  });

  for (const [width, height] of [
    [13, 7],
    [1, 1],
    [2, 3],
    [9, 9],
  ] as const) {
    it(`sharp's interlaced (progressive) ${width}x${height} grey 8- and 16-bit PNGs`, async () => {
      const eight = Uint8Array.from(pattern(width, height, (x, y) => (3 * x + 5 * y) % 21));
      const sixteen = Uint16Array.from(pattern(width, height, (x, y) => (4099 * x + 257 * y) % 65536));
      const raw = { width, height, channels: 1 } as const;
      const a = await sharp(eight, { raw }).toColourspace('b-w').png({ progressive: true }).toBuffer();
      const b = await sharp(sixteen, { raw }) // a Uint16Array: sharp reads it as 16-bit
        .toColourspace('grey16')
        .png({ progressive: true })
        .toBuffer();
      assert.deepEqual([a[24], a[25], a[28], b[24], b[25], b[28]], [8, 0, 1, 16, 0, 1], 'depth, colour type and interlace of the two');
      assert.deepEqual(readClassIndexPng(a, 'a.png').indices, Uint16Array.from(eight));
      assert.deepEqual(readClassIndexPng(b, 'b.png').indices, sixteen);
    });
  }
});

describe('readClassIndexPng refuses what is not a mask of class indices, naming the file', () => {
  const good = readFileSync(path.join(FIXTURES, 'gray-l8.png'));

  it('an RGB, RGBA or grey+alpha PNG: what it is and how to save a mask instead', () => {
    const rgb = encodePng({ kind: 'rgb8', width: 2, height: 1, data: Uint8Array.of(1, 2, 3, 4, 5, 6) });
    const advice = /not a mask of class indices: save the mask as 8-bit greyscale or indexed PNG whose pixel values are the class numbers$/;
    refuses(rgb, 'masks/ours.png', new RegExp(`^masks/ours\\.png: an RGB image, ${advice.source}`));
    refuses(readFileSync(path.join(FIXTURES, 'not-mask-rgb.png')), 'rgb.png', /: an RGB image, not a mask/);
    refuses(readFileSync(path.join(FIXTURES, 'not-mask-rgba.png')), 'rgba.png', /: an RGBA image, not a mask/);
    refuses(readFileSync(path.join(FIXTURES, 'not-mask-la.png')), 'la.png', /: a greyscale image with alpha, not a mask/);
  });

  it('an empty file, and bytes that are not a PNG', () => {
    refuses(new Uint8Array(0), 'empty.png', /^empty\.png: empty file$/);
    refuses(Buffer.from('GIF89a.....'), 'x.png', /not a PNG image \(no PNG signature\)/);
  });

  it('every truncation of a valid mask, from inside the signature to inside IEND (no RangeError)', () => {
    for (let length = 1; length < good.length; length++) refuses(good.subarray(0, length), 'cut.png', /truncated image .*: save the mask again$/);
  });

  it('a flipped byte in a CRC (IHDR, IDAT, IEND) or in the data it covers', () => {
    const crcAt = 8 + 4 + 4 + 13; // the signature, IHDR's length, type and data
    for (const at of [crcAt, crcAt + 3, 8 + 8 + 5, good.length - 14, good.length - 1]) {
      const bad = Buffer.from(good);
      bad[at] = bad[at]! ^ 0x10;
      refuses(bad, 'flip.png', /corrupt PNG image \(bad CRC in the "(IHDR|IDAT|IEND)" chunk at byte \d+\): save the mask again$/);
    }
  });

  it('a zero width or height, and a huge declared size (refused before allocating)', () => {
    refuses(png(['IHDR', ihdr(0, 7)], ['IDAT', deflateSync(Buffer.alloc(7))], IEND), 'zero.png', /corrupt PNG image \(0x7 pixels in IHDR\)/);
    refuses(png(['IHDR', ihdr(5, 0)], ['IDAT', deflateSync(Buffer.alloc(0))], IEND), 'zero.png', /\(5x0 pixels in IHDR\)/);
    const huge = png(['IHDR', ihdr(100_000, 100_000, 16)], ['IDAT', deflateSync(Buffer.alloc(10))], IEND);
    refuses(huge, 'huge.png', /^huge\.png: image larger than the pixel limit for a mask \(100000x100000 > 67108864 pixels\)$/);
    refuses(png(['IHDR', ihdr(2 ** 31, 1)], ['IDAT', deflateSync(Buffer.alloc(10))], IEND), 'big.png', /\(2147483648x1 pixels in IHDR\)/);
  });

  it('image data that does not inflate, is short, is long (an inflate bomb stops at the expected length) or has filter type 5', () => {
    refuses(png(['IHDR', ihdr(4, 2)], ['IDAT', Buffer.from('not zlib')], IEND), 'z.png', /corrupt PNG image \(its image data does not inflate: .+\)/);
    refuses(png(['IHDR', ihdr(4, 2)], ['IDAT', deflateSync(Buffer.alloc(10)).subarray(0, 6)], IEND), 'z.png', /does not inflate/);
    refuses(grayWithRaw(4, 2, Buffer.alloc(9)), 'short.png', /its image data holds 9 bytes, 10 expected for 4x2 pixels/);
    refuses(grayWithRaw(4, 2, Buffer.alloc(50_000_000)), 'bomb.png', /its image data holds more than 10 bytes, 10 expected/);
    refuses(grayWithRaw(4, 2, Buffer.from([0, 1, 2, 3, 4, 5, 0, 0, 0, 0])), 'f.png', /corrupt PNG image \(filter type 5 on a row\)/);
  });

  it('no IHDR first, no IDAT, no IEND, an unknown critical chunk, or a bad depth for its colour type', () => {
    const [head, ...rest] = chunksOf(good);
    refuses(png(...rest, head!), 'order.png', /IHDR is not its first chunk/);
    refuses(png(head!, IEND), 'none.png', /no IDAT chunk/);
    refuses(png(...chunksOf(good).filter(([type]) => type !== 'IEND')), 'open.png', /truncated image \(no IEND chunk/);
    refuses(png(head!, ['ZZZZ', Buffer.alloc(1)], ...rest), 'crit.png', /unsupported PNG image \(critical chunk "ZZZZ"\)/);
    assert.deepEqual(readClassIndexPng(png(head!, ['zzZz', Buffer.alloc(1)], ...rest), 'anc.png').width, 13, 'an ancillary chunk is skipped');
    refuses(png(['IHDR', ihdr(4, 2, 16, 3)], ...rest), 'depth.png', /colour type 3 at bit depth 16/);
  });

  it('2,000 seeded random corruptions of a mask: each decodes or throws InputError, never anything else', () => {
    const random = noise(4 * 2000, 99);
    for (let n = 0; n < 2000; n++) {
      const bad = Buffer.from(good);
      const at = 8 + (((random[4 * n]! << 8) | random[4 * n + 1]!) % (good.length - 8));
      bad[at] = random[4 * n + 2]!;
      // a fixed CRC lets the corruption reach the header checks, inflate and the filters
      if (random[4 * n + 3]! & 1) fixCrcs(bad);
      try {
        readClassIndexPng(bad, 'fuzz.png');
      } catch (error) {
        assert.ok(error instanceof InputError && error.file === 'fuzz.png', `byte ${at}: ${String(error)}`);
      }
    }
  });
});

/** Recomputes the CRC of every whole chunk in place, so a corruption gets past the CRC checks. */
function fixCrcs(bytes: Buffer): void {
  for (let at = 8; at + 12 <= bytes.length; at += 12 + bytes.readUInt32BE(at)) {
    const end = at + 8 + bytes.readUInt32BE(at);
    if (end + 4 > bytes.length) return;
    bytes.writeUInt32BE(crc(bytes.subarray(at + 4, end)), end);
  }
}

describe('encodePng refuses bad pixels, naming the parameter', () => {
  const gray = (fields: Partial<Record<string, unknown>>) => ({ kind: 'gray8', width: 2, height: 2, data: new Uint8Array(4), ...fields }) as PngPixels;
  const rejects = (pixels: PngPixels, message: RegExp) =>
    assert.throws(
      () => encodePng(pixels),
      (e: unknown) => e instanceof UsageError && message.test(e.message),
    );

  it('an unknown kind', () => rejects(gray({ kind: 'rgba8' }), /^Expected 'gray8', 'gray16', 'rgb8' or 'indexed8' for `pixels\.kind` but received 'rgba8'$/));

  it('a zero, negative or fractional width or height', () => {
    rejects(gray({ width: 0 }), /^Expected a positive integer for `pixels\.width` but received 0 pixels$/);
    rejects(gray({ height: -2 }), /for `pixels\.height` but received -2 pixels/);
    rejects(gray({ width: 1.5 }), /for `pixels\.width` but received 1\.5 pixels/);
  });

  it('data of the wrong length or the wrong array type', () => {
    rejects(gray({ data: new Uint8Array(5) }), /^Expected 4 values \(width \* height\) for `pixels\.data` but received 5 values$/);
    rejects({ kind: 'rgb8', width: 2, height: 2, data: new Uint8Array(4) }, /^Expected 12 values \(width \* height \* 3\) for `pixels\.data`/);
    rejects(gray({ kind: 'gray16' }), /^Expected a Uint16Array for `pixels\.data` but received 'Uint8Array'$/);
    rejects(gray({ data: [0, 0, 0, 0] }), /^Expected a Uint8Array for `pixels\.data` but received 'Array'$/);
  });

  it('a palette that is empty, not RGB triples, over 256 entries, or shorter than an index needs', () => {
    const indexed = (palette: Uint8Array, data = new Uint8Array(4)) => ({ kind: 'indexed8', width: 2, height: 2, data, palette }) as PngPixels;
    for (const length of [0, 4, 771]) rejects(indexed(new Uint8Array(length)), new RegExp(`for \`pixels\\.palette\` but received ${length} bytes$`));
    rejects(
      indexed(new Uint8Array(6), Uint8Array.of(0, 1, 2, 1)),
      /^Expected palette indices below 2 \(the palette's entries\) for `pixels\.data` but received 2 at pixel 2$/,
    );
  });
});
