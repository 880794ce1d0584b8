import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { resizeRgbOn, type Filter } from '../../src/preprocess/resample.js';
import { ROOT } from '../helpers/cli.js';

/** A small seeded generator (mulberry32), so every run draws the same cases. */
function random(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
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
    for (let i = 0; i < src.length; i++) src[i] = (Math.floor(i / 3) % 7) < 3 ? 255 : 0;
    let clipped = 0;
    for (const filter of ['bilinear', 'bicubic', 'lanczos3'] as Filter[]) {
      for (const [ow, oh] of [[224, 224], [1500, 751], [1003, 1400], [17, 900]] as [number, number][]) {
        const js = resizeRgbOn('js', src, w, h, ow, oh, filter);
        assert.equal(Buffer.compare(Buffer.from(js), Buffer.from(resizeRgbOn('simd', src, w, h, ow, oh, filter))), 0, `${ow}x${oh} ${filter}`);
        if (js.includes(0) && js.includes(255)) clipped++;
      }
    }
    assert.ok(clipped >= 2, `${clipped} cases reached both 0 and 255`);
  });

  it('the committed module is resample.wat compiled (node src/preprocess/simd/build.mjs)', async () => {
    const build = await import(pathToFileURL(path.join(ROOT, 'src/preprocess/simd/build.mjs')).href) as {
      compileResampleWat(): Promise<Buffer>; resampleWasmSource(bytes: Buffer): string;
    };
    const committed = readFileSync(path.join(ROOT, 'src/preprocess/simd/resample-wasm.ts'), 'utf8');
    assert.equal(committed, build.resampleWasmSource(await build.compileResampleWat()));
  });
});
