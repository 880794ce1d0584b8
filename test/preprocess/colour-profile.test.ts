/**
 * Colour-profiled photos read as PIL reads them: an embedded ICC profile is ignored by default (the
 * stored numbers, as PIL's convert('RGB'), which torchvision and timm train on), converted to sRGB
 * with colourProfile 'convert'. Each tagged file is its untagged twin with the profile's chunk (PNG
 * iCCP) or segment (JPEG APP2 ICC_PROFILE) spliced in byte by byte, so both hold the same pixels.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { loadImageTensor } from '../../src/preprocess/decode.js';
import { resolvePreprocess } from '../../src/preprocess/spec.js';
import { tempDir } from '../helpers/files.js';

const folder = tempDir();
const spec = resolvePreprocess({ height: 24, width: 32, layout: 'NCHW', metadata: {} });

/** A 32x24 colour field with saturated corners (where wide-gamut profiles differ most). */
function pixels(): Buffer {
  const data = Buffer.alloc(32 * 24 * 3);
  for (let y = 0; y < 24; y++) for (let x = 0; x < 32; x++) data.set([x * 8, y * 10, 255 - x * 4], (y * 32 + x) * 3);
  return data;
}
const raw = { raw: { width: 32, height: 24, channels: 3 as const } };

/** The PNG chunk of `type` in `png` (length, type, data, CRC), or undefined. */
function pngChunk(png: Buffer, type: string): Buffer | undefined {
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    if (png.toString('latin1', at + 4, at + 8) === type) return png.subarray(at, at + 12 + length);
    at += 12 + length;
  }
  return undefined;
}

/** The JPEG APP2 segments holding an ICC profile (marker, length, 'ICC_PROFILE\0', data). */
function jpegIcc(jpeg: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 2; at + 4 <= jpeg.length && jpeg[at] === 0xff && jpeg[at + 1] !== 0xda;) {
    const length = jpeg.readUInt16BE(at + 2);
    if (jpeg[at + 1] === 0xe2 && jpeg.toString('latin1', at + 4, at + 15) === 'ICC_PROFILE') out.push(jpeg.subarray(at, at + 2 + length));
    at += 2 + length;
  }
  return out;
}

async function twins(profile: 'srgb' | 'p3', format: 'png' | 'jpeg'): Promise<{ plain: string; tagged: string }> {
  const plain = format === 'png' ? await sharp(pixels(), raw).png().toBuffer() : await sharp(pixels(), raw).jpeg({ quality: 95 }).toBuffer();
  const donor = format === 'png' ? await sharp(pixels(), raw).withIccProfile(profile).png().toBuffer() : await sharp(pixels(), raw).withIccProfile(profile).jpeg().toBuffer();
  let tagged: Buffer;
  if (format === 'png') {
    const iccp = pngChunk(donor, 'iCCP')!;
    const afterHeader = 8 + 12 + plain.readUInt32BE(8);
    tagged = Buffer.concat([plain.subarray(0, afterHeader), iccp, plain.subarray(afterHeader)]);
  } else {
    tagged = Buffer.concat([plain.subarray(0, 2), ...jpegIcc(donor), plain.subarray(2)]);
  }
  const files = { plain: path.join(folder, `${profile}-plain.${format}`), tagged: path.join(folder, `${profile}-tagged.${format}`) };
  writeFileSync(files.plain, plain);
  writeFileSync(files.tagged, tagged);
  return files;
}

const maxDifference = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('embedded ICC profiles', () => {
  for (const format of ['png', 'jpeg'] as const) {
    it(`${format}: tagged sRGB and Display P3 give the bit-identical tensor of the untagged twin by default; 'convert' changes P3`, async () => {
      for (const profile of ['srgb', 'p3'] as const) {
        const { plain, tagged } = await twins(profile, format);
        assert.ok((await sharp(tagged).metadata()).hasProfile, `${tagged} carries a profile`);
        assert.equal((await sharp(plain).metadata()).hasProfile, false);
        assert.deepEqual(await loadImageTensor(tagged, spec), await loadImageTensor(plain, spec), `${profile} ${format}`);
        assert.deepEqual(await loadImageTensor(plain, { ...spec, colourProfile: 'convert' }), await loadImageTensor(plain, spec), 'no profile: nothing to convert');
      }
      const { plain, tagged } = await twins('p3', format);
      // P3 -> sRGB moves saturated colours by several 8-bit steps: well over 0.05 in normalised units
      const moved = maxDifference(await loadImageTensor(tagged, { ...spec, colourProfile: 'convert' }), await loadImageTensor(plain, spec));
      assert.ok(moved > 0.05, `convert moved the tensor by ${moved}`);
    });
  }

  it('the default is ignore, as PIL reads files', () => {
    assert.equal(spec.colourProfile, 'ignore');
  });
});
