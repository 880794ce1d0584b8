/**
 * CMYK read as PIL reads it: Image.open(f).convert("RGB") applies Pillow's naive cmyk2rgb to the
 * stored numbers and no profile (fixtures/golden/make_cmyk.py wrote PIL's bytes), where libvips would
 * convert through an ICC profile. 'convert' keeps libvips' color-managed conversion.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { decodeToPixels, pilCmykToRgb } from '../../src/preprocess/decode.js';
import { resolvePreprocess } from '../../src/preprocess/spec.js';
import { ROOT } from '../helpers/cli.js';

const FILE = path.join(ROOT, 'fixtures', 'odd', 'cmyk.jpg');
const PIL = JSON.parse(readFileSync(path.join(ROOT, 'fixtures', 'golden', 'cmyk-pil.json'), 'utf8')) as { width: number; height: number; rgb: number[] };
const spec = resolvePreprocess({ height: PIL.height, width: PIL.width, layout: 'NCHW', metadata: {} });

describe('CMYK as PIL reads it', () => {
  it("Pillow's cmyk2rgb, worked by hand: (255 - K) - round(C (255 - K) / 255)", () => {
    // K = 0: 255 - C; K = 255: black; C = 100, K = 55: nk = 200, round(100 * 200 / 255) = 78, so 122
    assert.deepEqual([...pilCmykToRgb(Uint8Array.from([0, 128, 255, 0, 10, 20, 30, 255, 100, 0, 255, 55]))], [255, 127, 0, 0, 0, 0, 122, 200, 0]);
  });

  it("the odd corpus's CMYK JPEG gives PIL's bytes exactly by default", async () => {
    assert.deepEqual([...(await decodeToPixels(FILE, spec))], PIL.rgb);
  });

  it("'convert' keeps libvips' color-managed conversion, far from PIL's (mean over 20 of 255)", async () => {
    const managed = await decodeToPixels(FILE, { ...spec, colorProfile: 'convert' });
    const mean = managed.reduce((a, v, i) => a + Math.abs(v - PIL.rgb[i]!), 0) / managed.length;
    assert.ok(mean > 20, `mean difference ${mean}`);
  });

  it("the fast engine reads the same stored numbers: at the source size it gives PIL's bytes too", async () => {
    assert.deepEqual([...(await decodeToPixels(FILE, { ...spec, resizeEngine: 'fast' }))], PIL.rgb);
  });
});
