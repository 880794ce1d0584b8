import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { cropRgb, resizeRgbOn, windowSource, type Filter } from '../../src/preprocess/resample.js';
import { ROOT } from '../helpers/cli.js';
import { mulberry32 } from '../helpers/random.js';

/** Seeded integers in [0, n), so every run draws the same cases. */
function random(seed: number): (n: number) => number {
  const next = mulberry32(seed);
  return (n) => Math.floor(next() * n);
}

describe('resampling: WebAssembly SIMD and JavaScript passes', () => {
  it('give the same bytes on 300 random sizes, up and down, for every filter', () => {
    const draw = random(7);
    const filters: Filter[] = ['bilinear', 'bicubic', 'lanczos3'];
    for (let trial = 0; trial < 300; trial++) {
      const [w, h, ow, oh] = [1 + draw(90), 1 + draw(90), 1 + draw(70), 1 + draw(70)];
      const filter = filters[trial % 3]!;
      const src = new Uint8Array(w * h * 3);
      for (let i = 0; i < src.length; i++) src[i] = draw(256);
      const js = resizeRgbOn('js', src, w, h, ow, oh, filter);
      const simd = resizeRgbOn('simd', src, w, h, ow, oh, filter);
      assert.equal(Buffer.compare(Buffer.from(js), Buffer.from(simd)), 0, `${w}x${h} -> ${ow}x${oh} ${filter}`);
    }
  });

  it('give the same bytes on a photo-sized image with extreme values (sums near the int32 range)', () => {
    const [w, h] = [1003, 751];
    const src = new Uint8Array(w * h * 3);
    // black and white stripes: lanczos and bicubic overshoot, so clipping at 0 and 255 is exercised
    for (let i = 0; i < src.length; i++) src[i] = Math.floor(i / 3) % 7 < 3 ? 255 : 0;
    let clipped = 0;
    for (const filter of ['bilinear', 'bicubic', 'lanczos3'] as Filter[]) {
      for (const [ow, oh] of [
        [224, 224],
        [1500, 751],
        [1003, 1400],
        [17, 900],
      ] as [number, number][]) {
        const js = resizeRgbOn('js', src, w, h, ow, oh, filter);
        assert.equal(Buffer.compare(Buffer.from(js), Buffer.from(resizeRgbOn('simd', src, w, h, ow, oh, filter))), 0, `${ow}x${oh} ${filter}`);
        if (js.includes(0) && js.includes(255)) clipped++;
      }
    }
    assert.ok(clipped >= 2, `${clipped} cases reached both 0 and 255`);
  });

  it('a window of the output is the crop of the whole, byte for byte, on both engines', () => {
    const draw = random(11);
    const filters: Filter[] = ['bilinear', 'bicubic', 'lanczos3', 'nearest'];
    let windowed = 0;
    let smaller = 0;
    for (let trial = 0; trial < 300; trial++) {
      const [w, h, ow, oh] = [1 + draw(120), 1 + draw(120), 1 + draw(60), 1 + draw(60)];
      // some trials keep one axis's size (that pass is left out)
      const [outW, outH] = trial % 10 === 0 ? [w, oh] : trial % 10 === 1 ? [ow, h] : [ow, oh];
      const window = { left: draw(outW), top: draw(outH), width: 0, height: 0 };
      window.width = 1 + draw(outW - window.left);
      window.height = 1 + draw(outH - window.top);
      const filter = filters[trial % 4]!;
      const src = new Uint8Array(w * h * 3);
      for (let i = 0; i < src.length; i++) src[i] = draw(256);
      const whole = resizeRgbOn('js', src, w, h, outW, outH, filter);
      const crop = cropRgb(whole, outW, window.left, window.top, window.width, window.height);
      // the input rectangle the window reads, alone, gives the same bytes too
      const source = windowSource(w, h, outW, outH, filter, window);
      const part = cropRgb(src, w, source.left, source.top, source.width, source.height);
      for (const engine of ['js', 'simd'] as const) {
        const got = resizeRgbOn(engine, src, w, h, outW, outH, filter, window);
        assert.equal(Buffer.compare(Buffer.from(got), Buffer.from(crop)), 0, `${engine} ${w}x${h} -> ${outW}x${outH} ${filter} ${JSON.stringify(window)}`);
        const fromPart = resizeRgbOn(engine, part, w, h, outW, outH, filter, window, source);
        assert.equal(Buffer.compare(Buffer.from(fromPart), Buffer.from(crop)), 0, `${engine} from ${JSON.stringify(source)}`);
      }
      if (source.width < w && source.height < h) smaller++;
      if (window.width < outW || window.height < outH) windowed++;
    }
    assert.ok(windowed > 250, `${windowed} trials cut a true window`);
    assert.ok(smaller > 100, `${smaller} trials read less than the whole input`);
    // a source that does not cover what the window reads is refused
    const src = new Uint8Array(40 * 40 * 3);
    const source = windowSource(40, 40, 20, 20, 'bilinear', { left: 5, top: 5, width: 10, height: 10 });
    assert.throws(
      () =>
        resizeRgbOn(
          'js',
          cropRgb(src, 40, source.left + 1, source.top, source.width - 1, source.height),
          40,
          40,
          20,
          20,
          'bilinear',
          { left: 5, top: 5, width: 10, height: 10 },
          { ...source, left: source.left + 1, width: source.width - 1 },
        ),
      /Expected a source rectangle covering/,
    );
    // a window outside the output is refused
    assert.throws(
      () => resizeRgbOn('js', new Uint8Array(12), 2, 2, 4, 4, 'bilinear', { left: 2, top: 0, width: 3, height: 1 }),
      /Expected a window inside 4x4/,
    );
  });

  it('the committed module is resample.wat compiled (node src/preprocess/simd/build.mjs)', async () => {
    const build = (await import(pathToFileURL(path.join(ROOT, 'src/preprocess/simd/build.mjs')).href)) as {
      compileResampleWat(): Promise<Buffer>;
      resampleWasmSource(bytes: Buffer): string;
    };
    const committed = readFileSync(path.join(ROOT, 'src/preprocess/simd/resample-wasm.ts'), 'utf8');
    assert.equal(committed, build.resampleWasmSource(await build.compileResampleWat()));
  });
});

describe('NEAREST', () => {
  it("picks Pillow's source pixels, whose running sum falls short of a whole (x + 0.5) * scale (Pillow 12.3: 28 -> 26, 28 -> 24)", () => {
    // a ramp whose value is its index, along x and along y
    const ramp = (n: number) => Uint8Array.from({ length: n * 3 }, (_, i) => Math.floor(i / 3));
    const picked = (out: Uint8Array) => Array.from(out.filter((_, i) => i % 3 === 0));
    const pillow: [number, number[]][] = [
      [26, [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24, 25, 26, 27]],
      [24, [0, 1, 2, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 25, 26, 27]],
    ];
    for (const [size, expected] of pillow) {
      assert.deepEqual(picked(resizeRgbOn('js', ramp(28), 28, 1, size, 1, 'nearest')), expected, `28 -> ${size} along x`);
      assert.deepEqual(picked(resizeRgbOn('js', ramp(28), 1, 28, 1, size, 'nearest')), expected, `28 -> ${size} along y`);
    }
  });
});
