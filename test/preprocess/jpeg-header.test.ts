/**
 * A JPEG's component count from its markers (jpeg-header.ts), held to what libvips reads of the same
 * files, and the CMYK decode that relies on it: the odd corpus's CMYK JPEG must still give PIL's
 * bytes when its frame header lies past the bytes read, where sharp answers instead. And whether
 * its markers reach its end, which tells a truncated file from one with bytes after its end.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { decodeToPixels } from '../../src/preprocess/decode.js';
import { jpegComponents, jpegEnds } from '../../src/preprocess/jpeg-header.js';
import { resolvePreprocess } from '../../src/preprocess/spec.js';
import { ROOT } from '../helpers/cli.js';
import { mulberry32 } from '../helpers/random.js';
import { tempDir } from '../helpers/files.js';

/** Every JPEG the fixtures hold, found by its first bytes, not its name. */
function fixtureJpegs(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.isFile()) {
        const head = readFileSync(file).subarray(0, 2);
        if (head[0] === 0xff && head[1] === 0xd8) found.push(file);
      }
    }
  };
  walk(path.join(ROOT, 'fixtures'));
  return found;
}

/** A segment: marker, then its 2-byte length (which counts itself) and `body`. */
const segment = (marker: number, body: number[]) => [0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 0xff, ...body];
/** A frame header: precision 8, 16 x 16, `components` components of 3 bytes each. */
const frame = (marker: number, components: number) => segment(marker, [8, 0, 16, 0, 16, components, ...Array<number>(components * 3).fill(1)]);
const SOI = [0xff, 0xd8];

describe('jpegComponents', () => {
  it('agrees with libvips on every JPEG the fixtures hold: 4 components exactly where sharp says CMYK', async () => {
    const files = fixtureJpegs();
    assert.ok(files.length >= 10, `${files.length} JPEGs`);
    let cmyk = 0;
    for (const file of files) {
      const bytes = readFileSync(file);
      const meta = await sharp(bytes)
        .metadata()
        .catch(() => undefined);
      const components = jpegComponents(bytes);
      if (!meta) continue; // not a JPEG libvips can read (fixtures/bad): nothing to agree with
      assert.equal(components, meta.channels, file);
      assert.equal(components === 4, meta.space === 'cmyk', file);
      if (meta.space === 'cmyk') cmyk++;
    }
    assert.ok(cmyk >= 1, 'the fixtures hold a CMYK JPEG');
  });

  it('reads a frame after other segments, fill bytes and a Huffman table (C4 is not a frame)', () => {
    const head = Uint8Array.from([...SOI, ...segment(0xe0, [1, 2, 3]), 0xff, 0xff, 0xff, ...segment(0xc4, [0, 0, 0]), ...frame(0xc2, 4)]);
    assert.equal(jpegComponents(head), 4);
    assert.equal(jpegComponents(Uint8Array.from([...SOI, ...frame(0xc0, 3)])), 3);
    assert.equal(jpegComponents(Uint8Array.from([...SOI, ...frame(0xc1, 1)])), 1);
  });

  it('says nothing (the decoder answers) when the bytes end first, are no JPEG, or hold the unexpected', () => {
    const whole = [...SOI, ...segment(0xe1, Array<number>(100).fill(0)), ...frame(0xc0, 4)];
    // the count is the frame header's last byte before its 4 x 3 bytes of component specifications
    const countAt = whole.length - 4 * 3 - 1;
    for (let cut = 0; cut <= whole.length; cut++)
      assert.equal(jpegComponents(Uint8Array.from(whole.slice(0, cut))), cut > countAt ? 4 : undefined, `cut at ${cut}`);
    assert.equal(jpegComponents(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0])), undefined, 'a PNG');
    assert.equal(jpegComponents(Uint8Array.from([...SOI, 0xff, 0xe0, 0, 1, ...frame(0xc0, 3)])), undefined, 'a length below 2');
    assert.equal(jpegComponents(Uint8Array.from([...SOI, 0x00, 0xe0, 0, 4, 0, 0, ...frame(0xc0, 3)])), undefined, 'no marker where one belongs');
    assert.equal(jpegComponents(Uint8Array.from([...SOI, 0xff, 0xd9, ...frame(0xc0, 3)])), undefined, 'the image ends before a frame');
    assert.equal(jpegComponents(Uint8Array.from([...SOI, ...segment(0xda, [0, 0, 0]), ...frame(0xc0, 3)])), undefined, 'scan data before a frame');
    assert.equal(jpegComponents(Uint8Array.from([...SOI, ...frame(0xc0, 2)])), undefined, 'two components: the decoder says what it makes of them');
  });
});

describe('jpegComponents on damaged headers', () => {
  it('never throws, and where it answers, libvips reads the same count (600 seeded damaged copies)', async () => {
    const random = mulberry32(38);
    const sources = fixtureJpegs().map((file) => readFileSync(file));
    let answered = 0;
    let compared = 0;
    for (let k = 0; k < 600; k++) {
      const bytes = Uint8Array.from(sources[k % sources.length]!);
      // damage a few bytes of the header region, where the markers and lengths are
      const end = Math.min(bytes.length, 700);
      for (let d = 1 + Math.floor(random() * 3); d > 0; d--) bytes[Math.floor(random() * end)] = Math.floor(random() * 256);
      const components = jpegComponents(bytes);
      if (components === undefined) continue;
      answered++;
      assert.ok([1, 3, 4].includes(components), `copy ${k}: ${components}`);
      const meta = await sharp(bytes)
        .metadata()
        .catch(() => undefined);
      if (!meta) continue; // libvips refuses the copy: the decode fails whatever the count said
      compared++;
      assert.equal(components, meta.channels, `copy ${k}`);
    }
    // most damage misses the frame header: both paths are exercised many times
    assert.ok(answered >= 300 && compared >= 300, `${answered} answered, ${compared} compared`);
  });
});

describe('CMYK JPEGs read as PIL reads them, whichever way the CMYK is found', () => {
  const FILE = path.join(ROOT, 'fixtures', 'odd', 'cmyk.jpg');
  const PIL = JSON.parse(readFileSync(path.join(ROOT, 'fixtures', 'golden', 'cmyk-pil.json'), 'utf8')) as { width: number; height: number; rgb: number[] };
  const spec = resolvePreprocess({ height: PIL.height, width: PIL.width, layout: 'NCHW', metadata: {} });

  it('with the frame header 180 KB in (three large APP15 segments first), sharp answers and the bytes are still PIL’s', async () => {
    const bytes = readFileSync(FILE);
    const padding = Array.from({ length: 3 }, () => segment(0xef, Array<number>(60_000).fill(7))).flat();
    const padded = Uint8Array.from([...SOI, ...padding, ...bytes.subarray(2)]);
    assert.equal(jpegComponents(padded.subarray(0, 64 * 1024)), undefined, 'past the bytes read');
    assert.equal(jpegComponents(padded), 4);
    const file = path.join(tempDir('jpeg-header-'), 'padded-cmyk.jpg');
    writeFileSync(file, padded);
    for (const resizeEngine of ['exact', 'fast'] as const) {
      assert.deepEqual([...(await decodeToPixels(file, { ...spec, resizeEngine }))], PIL.rgb, resizeEngine);
    }
  });
});

describe('jpegEnds', () => {
  // the fixtures' JPEGs that libvips decodes whole (fixtures/bad holds a truncated one)
  let jpegs: { file: string; bytes: Buffer }[] = [];
  before(async () => {
    const all = fixtureJpegs().map((file) => ({ file, bytes: readFileSync(file) }));
    const whole = await Promise.all(
      all.map(({ bytes }) =>
        sharp(bytes, { failOn: 'warning' })
          .raw()
          .toBuffer()
          .then(
            () => true,
            () => false,
          ),
      ),
    );
    jpegs = all.filter((_, i) => whole[i]);
    assert.deepEqual(
      all.filter((_, i) => !whole[i]).map(({ file }) => path.relative(ROOT, file)),
      ['fixtures/bad/truncated.jpg'],
    );
    assert.equal(jpegEnds(readFileSync(path.join(ROOT, 'fixtures/bad/truncated.jpg'))), false);
  });

  it('reaches the end of every JPEG the fixtures hold (progressive ones too), whatever bytes follow it', () => {
    assert.ok(jpegs.length >= 10, `${jpegs.length} fixture JPEGs`);
    assert.ok(
      jpegs.some(({ file }) => file.endsWith('progressive.jpg')),
      'a progressive JPEG among them: several scans',
    );
    const png = readFileSync(path.join(ROOT, 'fixtures/odd/rgb.png'));
    for (const { file, bytes } of jpegs) {
      assert.equal(jpegEnds(bytes), true, file);
      assert.equal(jpegEnds(Buffer.concat([bytes, Buffer.alloc(100_000)])), true, `${file} + zeros`);
      assert.equal(jpegEnds(Buffer.concat([bytes, png])), true, `${file} + a PNG`);
    }
  });

  it('says a JPEG cut anywhere before its end marker stops early (every cut of three files, 40 of each other)', () => {
    const random = mulberry32(11);
    for (const [n, { file, bytes }] of jpegs.entries()) {
      const end = bytes.lastIndexOf(Buffer.from([0xff, 0xd9]));
      const cuts = n < 3 ? Array.from({ length: end - 1 }, (_, i) => i + 2) : Array.from({ length: 40 }, () => 2 + Math.floor(random() * (end - 2)));
      for (const cut of cuts) assert.equal(jpegEnds(bytes.subarray(0, cut)), false, `${file} cut at ${cut} of ${bytes.length}`);
    }
  });

  it('skips an end marker inside a segment (an EXIF thumbnail), and says nothing of what is no JPEG or has broken markers', () => {
    const scan = [...segment(0xda, [1, 1, 0, 0, 63, 0]), 0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56];
    const thumbnail = segment(0xe1, [0x45, 0x78, 0x69, 0x66, 0, 0, 0xff, 0xd8, 0xff, 0xd9]);
    const whole = Uint8Array.from([...SOI, ...thumbnail, ...frame(0xc0, 1), ...scan, 0xff, 0xff, 0xd9]);
    assert.equal(jpegEnds(whole), true);
    // cut just after the thumbnail's end marker: its last two bytes are FF D9, yet the image stops early
    assert.equal(jpegEnds(Uint8Array.from([...SOI, ...thumbnail])), false);
    assert.equal(jpegEnds(whole.subarray(0, whole.length - 2)), false, 'cut before the end marker, after fill bytes');
    assert.equal(jpegEnds(Uint8Array.from([0x89, 0x50, 0x4e, 0x47])), undefined);
    assert.equal(jpegEnds(Uint8Array.from([...SOI, 0x12, 0x34])), undefined, 'no marker where one must be');
    assert.equal(jpegEnds(Uint8Array.from([...SOI, 0xff, 0xe0, 0, 1])), undefined, 'a length below 2');
    assert.equal(jpegEnds(Uint8Array.from([...SOI, 0xff, 0x00])), undefined, 'a stuffed zero outside a scan');
  });
});
