import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.js';
import sharp from 'sharp';
import { decodeToPixels, imageHeader, loadImageTensor } from '../../src/preprocess/decode.js';
import { resolvePreprocess, type PreprocessSpec } from '../../src/preprocess/spec.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

const ODD = path.join(ROOT, 'fixtures', 'odd');
const BAD = path.join(ROOT, 'fixtures', 'bad');
const spec: PreprocessSpec = resolvePreprocess({ height: 32, width: 32, layout: 'NCHW', metadata: {} });
const odd = (name: string) => path.join(ODD, name);

async function sameTensor(file: string, reference: string, options: Partial<PreprocessSpec> = {}): Promise<void> {
  const a = await loadImageTensor(odd(file), { ...spec, ...options });
  const b = await loadImageTensor(odd(reference), { ...spec, ...options });
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  assert.ok(worst <= 1e-6, `${file} vs ${reference}: max abs diff ${worst}`);
}

/** Mean absolute difference in 8-bit pixel units. */
async function pixelDistance(file: string, reference: string): Promise<number> {
  const a = await decodeToPixels(odd(file), spec);
  const b = await decodeToPixels(odd(reference), spec);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

describe('decoding odd images to the exact tensor', () => {
  it('grayscale PNG replicates gray into R, G and B', () => sameTensor('gray.png', 'gray-as-rgb.png'));
  it('grayscale+alpha PNG drops alpha', () => sameTensor('gray-alpha.png', 'gray-as-rgb.png'));
  it('RGBA PNG drops alpha by default, like PIL convert("RGB")', () => sameTensor('rgba.png', 'rgb.png'));
  it('palette PNG with transparency decodes to its palette colors', () => sameTensor('palette-transparent.png', 'palette-as-rgb.png'));
  it('16-bit RGB PNG becomes the same 8-bit values', () => sameTensor('rgb16.png', 'rgb.png'));
  it('16-bit grayscale PNG becomes the same 8-bit gray', () => sameTensor('gray16.png', 'gray-as-rgb.png'));
  it('lossless WebP', () => sameTensor('lossless.webp', 'rgb.png'));
  it('TIFF', () => sameTensor('image.tiff', 'rgb.png'));
  it('a symlink reads its target', () => sameTensor('link-to-rgb.png', 'rgb.png'));

  it('lossy encodings land close to the source (mean abs diff under 5 of 255)', async () => {
    // measured: JPEG q95 3.97 (4:2:0 chroma subsampling of the pattern's sawtooth blue), AVIF 1.84
    for (const file of ['progressive.jpg', 'UPPER.JPG', 'image.avif']) {
      const distance = await pixelDistance(file, 'rgb.png');
      assert.ok(distance < 5, `${file}: ${distance}`);
    }
  });

  it('CMYK JPEG is converted to sRGB through an ICC profile (near the RGB source)', async () => {
    // The fixture was written by PIL's naive RGB->CMYK (C = 255 - R, K = 0); libvips converts it
    // back through a CMYK profile, so it lands near but not on the source: measured 24.1 of 255.
    const distance = await pixelDistance('cmyk.jpg', 'rgb.png');
    assert.ok(distance < 30, `cmyk.jpg: mean abs diff ${distance} of 255`);
  });

  it('EXIF orientation 6 is applied: the stored left half (red) ends on top', async () => {
    const pixels = await decodeToPixels(odd('exif-orientation-6.jpg'), spec);
    const at = (x: number, y: number) => Array.from(pixels.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3));
    const [topR, , topB] = at(16, 4);
    const [bottomR, , bottomB] = at(16, 28);
    assert.ok(topR! > 180 && topB! < 80, `top ${at(16, 4)}`);
    assert.ok(bottomB! > 180 && bottomR! < 80, `bottom ${at(16, 28)}`);
  });

  it('animated GIF uses its first frame (red)', async () => {
    const pixels = await decodeToPixels(odd('animated.gif'), spec);
    assert.ok(pixels[0]! > 200 && pixels[2]! < 50, `first pixel ${Array.from(pixels.subarray(0, 3))}`);
  });

  it('1x1 and 4000x10 images are resized to the model size', async () => {
    const one = await decodeToPixels(odd('one-pixel.png'), spec);
    assert.equal(one.length, 32 * 32 * 3);
    assert.deepEqual(Array.from(one.subarray(0, 3)), [10, 200, 30]);
    assert.equal((await decodeToPixels(odd('wide-4000x10.png'), spec)).length, 32 * 32 * 3);
  });

  it('--resize pad letterboxes a 4000x10 image onto the background color', async () => {
    const pixels = await decodeToPixels(odd('wide-4000x10.png'), { ...spec, resize: 'pad', background: [1, 2, 3] });
    // scale 32/4000 leaves one row (rounded up from 0.08), centerd at row 15
    const row = (y: number) => Array.from(pixels.subarray(y * 32 * 3, (y + 1) * 32 * 3));
    assert.deepEqual(row(0).slice(0, 3), [1, 2, 3]);
    assert.deepEqual(row(31).slice(0, 3), [1, 2, 3]);
    assert.notDeepEqual(row(15), row(0));
  });

  it('--alpha flatten composites on the background color', async () => {
    const flat = await decodeToPixels(odd('rgba.png'), { ...spec, alpha: 'flatten', background: [255, 255, 255] });
    const plain = await decodeToPixels(odd('rgb.png'), spec);
    // pixel 1 has alpha 5: almost all white
    assert.ok(flat[3]! > 245 && flat[4]! > 245, `${Array.from(flat.subarray(3, 6))}`);
    // pixel 51 has alpha 255: the color itself
    assert.deepEqual(Array.from(flat.subarray(51 * 3, 51 * 3 + 3)), Array.from(plain.subarray(51 * 3, 51 * 3 + 3)));
  });
});

describe('a center crop decodes only the rectangle it reads', () => {
  it('the same bytes as decoding the whole image, on every odd image and on rotated photos, for every filter', async () => {
    const folder = tempDir();
    // photos large enough that the crop reads a part of them; EXIF orientations 1, 6 and 8
    const photos = await Promise.all(
      [1, 6, 8].map(async (orientation) => {
        const file = path.join(folder, `photo-${orientation}.jpg`);
        const raw = Buffer.alloc(603 * 401 * 3);
        for (let i = 0; i < raw.length; i++) raw[i] = (i * 7 + Math.floor(i / 1809) * 13) % 251;
        await sharp(raw, { raw: { width: 603, height: 401, channels: 3 } })
          .jpeg({ quality: 90 })
          .withMetadata({ orientation })
          .toFile(file);
        return file;
      }),
    );
    const files = [
      ...readdirSync(ODD)
        .filter((f) => !['loop', 'link-to-rgb.png'].includes(f))
        .map(odd),
      ...photos,
    ];
    let partial = 0;
    for (const file of files) {
      const header = await imageHeader(file);
      assert.ok(header, file);
      for (const interpolation of ['bilinear', 'bicubic', 'lanczos3', 'nearest'] as const) {
        for (const [height, width, cropFraction] of [
          [24, 24, 0.875],
          [24, 20, 0.8],
          [20, 24, 0.8],
        ] as const) {
          const cropSpec: PreprocessSpec = { ...spec, height, width, resize: 'center-crop', interpolation, cropFraction };
          const whole = await decodeToPixels(file, cropSpec);
          const part = await decodeToPixels(file, cropSpec, header);
          assert.equal(Buffer.compare(Buffer.from(part), Buffer.from(whole)), 0, `${path.basename(file)} ${interpolation} ${height}x${width} ${cropFraction}`);
        }
      }
      if (photos.includes(file)) partial++;
    }
    assert.equal(partial, 3);
    // the photos' header is upright: orientation 6 turns 603x401 into 401x603
    assert.deepEqual(await imageHeader(photos[1]!), { width: 401, height: 603, cmyk: false });
  });

  it('a crop that does not fit in the resized shorter side of a non-square input is refused', () => {
    const model = { height: 24, width: 20, layout: 'NCHW' as const, metadata: {} };
    assert.throws(
      () => resolvePreprocess(model, { resize: 'center-crop', cropFraction: 0.875 }),
      /Expected a crop fraction of at most 0\.8333 \(a center crop of 24x20: the shorter side would go to 22 pixels, less than 24\) for `cropFraction` but received 0\.875/,
    );
    assert.equal(resolvePreprocess(model, { resize: 'center-crop', cropFraction: 0.8 }).cropFraction, 0.8);
    assert.equal(resolvePreprocess(model, { resize: 'stretch', cropFraction: 0.875 }).resize, 'stretch');
  });
});

describe('broken files are errors that name the file and a short reason of that file alone', () => {
  const cases: [string, string][] = [
    ['zero-byte.jpg', 'empty file'],
    ['truncated.jpg', 'truncated image'],
    ['text.png', 'not an image'],
    ['bomb-60000x60000.png', 'image larger than the pixel limit (3600000000 > 100000000 pixels)'],
  ];
  for (const [file, reason] of cases) {
    it(file, async () => {
      await assert.rejects(loadImageTensor(path.join(BAD, file), spec), (error: unknown) => {
        assert.ok(error instanceof InputError);
        assert.equal(error.file, path.join(BAD, file));
        assert.equal(error.reason, reason);
        assert.equal(error.message, `${path.join(BAD, file)}: ${reason}`);
        return true;
      });
    });
  }

  it('the same reasons whatever else decodes at the same time (libvips keeps one error buffer per process)', async () => {
    const files = cases.map(([file]) => path.join(BAD, file));
    const once = async () =>
      Promise.all(
        [...files, ...files, ...files].map((f) =>
          loadImageTensor(f, spec).then(
            () => 'ok',
            (e: InputError) => e.reason,
          ),
        ),
      );
    const expected = [...cases, ...cases, ...cases].map(([, reason]) => reason);
    for (let round = 0; round < 5; round++) assert.deepEqual(await once(), expected);
  });

  it('a truncated PNG, a corrupt JPEG body, and a corrupt JPEG with bytes after its end (corrupt) or cut before it (truncated)', async () => {
    const folder = tempDir();
    const png = readFileSync(path.join(ROOT, 'fixtures/odd/rgb.png'));
    writeFileSync(path.join(folder, 'cut.png'), png.subarray(0, png.length - 30));
    const jpeg = Buffer.from(readFileSync(path.join(ROOT, 'fixtures/odd/progressive.jpg')));
    jpeg.fill(0x55, 4, 200); // segments after the SOI marker overwritten, end marker kept
    writeFileSync(path.join(folder, 'mangled.jpg'), jpeg);
    // a JPEG with its frame header given twice: libvips refuses "two SOF markers"
    const small = readFileSync(path.join(ROOT, 'fixtures/samples/bag-34.jpg'));
    let at = 2;
    while (small[at + 1] !== 0xc0) at += 2 + small.readUInt16BE(at + 2);
    const frameHeader = small.subarray(at, at + 2 + small.readUInt16BE(at + 2));
    const twoFrames = Buffer.concat([small.subarray(0, at), frameHeader, small.subarray(at)]);
    writeFileSync(path.join(folder, 'two-frames.jpg'), twoFrames);
    writeFileSync(path.join(folder, 'two-frames-padded.jpg'), Buffer.concat([twoFrames, Buffer.alloc(100_000)]));
    writeFileSync(path.join(folder, 'two-frames-cut.jpg'), twoFrames.subarray(0, twoFrames.length - 40));
    const reason = (f: string) =>
      loadImageTensor(path.join(folder, f), spec).then(
        () => 'ok',
        (e: InputError) => e.reason,
      );
    assert.equal(await reason('cut.png'), 'truncated image');
    assert.equal(await reason('mangled.jpg'), 'corrupt JPEG image');
    assert.equal(await reason('two-frames.jpg'), 'corrupt JPEG image');
    assert.equal(await reason('two-frames-padded.jpg'), 'corrupt JPEG image');
    assert.equal(await reason('two-frames-cut.jpg'), 'truncated image');
  });
});

describe('--resize-engine fast (libvips, JPEG shrink-on-load)', () => {
  it('gives the geometry of the exact engine with pixels within a few levels (stretch, center-crop, pad)', async () => {
    for (const resize of ['stretch', 'center-crop', 'pad'] as const) {
      const exact = await decodeToPixels(odd('photo-97x75.png'), { ...spec, resize });
      const fast = await decodeToPixels(odd('photo-97x75.png'), { ...spec, resize, resizeEngine: 'fast' });
      assert.equal(fast.length, exact.length);
      let total = 0;
      for (let i = 0; i < exact.length; i++) total += Math.abs(exact[i]! - fast[i]!);
      // measured 1.2 (64x64) and 0.5 (224x224) levels on 12 MP photos; a wrong geometry gives tens
      assert.ok(total / exact.length < 6, `${resize}: mean difference ${total / exact.length}`);
      assert.notDeepEqual(fast, exact, 'the fast engine is not the exact one');
    }
  });

  it('fails on broken files with the same short reasons', async () => {
    await assert.rejects(
      loadImageTensor(path.join(BAD, 'truncated.jpg'), { ...spec, resizeEngine: 'fast' }),
      (e: InputError) => e.reason === 'truncated image',
    );
  });
});
