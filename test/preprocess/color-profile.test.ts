/**
 * Color-profiled photos read as PIL reads them: an embedded ICC profile is ignored by default (the
 * stored numbers, as PIL's convert('RGB'), which torchvision and timm train on), converted to sRGB
 * with colorProfile 'convert'. Each tagged file is its untagged twin with the profile's chunk (PNG
 * iCCP) or segment (JPEG APP2 ICC_PROFILE) spliced in byte by byte, so both hold the same pixels.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { loadImageTensor } from '../../src/preprocess/decode.js';
import { resolvePreprocess } from '../../src/preprocess/spec.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

const folder = tempDir();
const spec = resolvePreprocess({ height: 24, width: 32, layout: 'NCHW', metadata: {} });

/** A 32x24 color field with saturated corners (where wide-gamut profiles differ most). */
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

/** Colord's free profiles (fixtures/icc, CC0): wide gamuts that camera JPEGs and raw converters embed. */
const PROFILES = ['AdobeRGB1998', 'ProPhotoRGB', 'WideGamutRGB'].map((name) => path.join(ROOT, 'fixtures', 'icc', `${name}.icc`));
const GRAY = path.join(folder, 'gray22.icc');
writeFileSync(GRAY, grayProfile());

/**
 * A minimal ICC v2 grayscale display profile (header, desc, wtpt, kTRC gamma 2.2, cprt), written
 * here from the ICC.1:2001-04 layout: a grayscale PNG may only carry a GRAY profile (decoders drop
 * an RGB one), and no free gray profile ships with the packages used here.
 */
function grayProfile(): Buffer {
  const fixed = (v: number) => Math.round(v * 65536);
  const text = (s: string) => Buffer.from(`${s}\0`, 'latin1');
  const description = text('mc-dropout test gray gamma 2.2');
  const desc = Buffer.concat([Buffer.from('desc'), Buffer.alloc(4), u32(description.length), description, Buffer.alloc(4 + 4 + 2 + 1 + 67)]);
  const wtpt = Buffer.concat([Buffer.from('XYZ '), Buffer.alloc(4), ...[0.9642, 1, 0.8249].map((v) => i32(fixed(v)))]);
  const ktrc = Buffer.concat([Buffer.from('curv'), Buffer.alloc(4), u32(1), Buffer.from([0x02, 0x33])]); // gamma 2.2 as u8Fixed8
  const cprt = Buffer.concat([Buffer.from('text'), Buffer.alloc(4), text('CC0')]);
  const tags: [string, Buffer][] = [
    ['desc', desc],
    ['wtpt', wtpt],
    ['kTRC', ktrc],
    ['cprt', cprt],
  ];
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  let offset = 128 + 4 + 12 * tags.length;
  const table: Buffer[] = [u32(tags.length)];
  const data: Buffer[] = [];
  for (const [sig, body] of tags) {
    table.push(Buffer.from(sig), u32(offset), u32(body.length));
    data.push(pad(body));
    offset += pad(body).length;
  }
  const header = Buffer.alloc(128);
  header.writeUInt32BE(offset, 0);
  header.writeUInt32BE(0x02100000, 8); // version 2.1
  header.write('mntrGRAYXYZ ', 12, 'latin1');
  header.writeUInt16BE(2026, 24);
  header.writeUInt16BE(1, 26);
  header.writeUInt16BE(1, 28);
  header.write('acsp', 36, 'latin1');
  [0.9642, 1, 0.8249].forEach((v, i) => header.writeInt32BE(fixed(v), 68 + 4 * i)); // D50
  return Buffer.concat([header, ...table, ...data]);
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}
function i32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
}

/** The same pixels as a 16-bit RGB PNG, or an 8-bit grayscale PNG. */
async function plainImage(kind: 'png' | 'jpeg' | 'png16' | 'gray' | 'palette'): Promise<Buffer> {
  if (kind === 'jpeg') return sharp(pixels(), raw).jpeg({ quality: 95 }).toBuffer();
  if (kind === 'palette') return sharp(pixels(), raw).png({ palette: true, colors: 64, dither: 0 }).toBuffer();
  if (kind === 'png16') return sharp(pixels(), raw).toColorspace('rgb16').png().toBuffer();
  if (kind === 'gray') return sharp(pixels(), raw).toColorspace('b-w').png().toBuffer();
  return sharp(pixels(), raw).png().toBuffer();
}

async function twins(profile: string, format: 'png' | 'jpeg' | 'png16' | 'gray' | 'palette'): Promise<{ plain: string; tagged: string }> {
  const plain = await plainImage(format);
  const donor =
    format === 'jpeg'
      ? await sharp(pixels(), raw).withIccProfile(profile).jpeg().toBuffer()
      : format === 'gray'
        ? await sharp(pixels(), raw).toColorspace('b-w').withIccProfile(GRAY).png().toBuffer()
        : await sharp(pixels(), raw).withIccProfile(profile).png().toBuffer();
  let tagged: Buffer;
  if (format !== 'jpeg') {
    const iccp = pngChunk(donor, 'iCCP')!;
    const afterHeader = 8 + 12 + plain.readUInt32BE(8);
    tagged = Buffer.concat([plain.subarray(0, afterHeader), iccp, plain.subarray(afterHeader)]);
  } else {
    tagged = Buffer.concat([plain.subarray(0, 2), ...jpegIcc(donor), plain.subarray(2)]);
  }
  const name = format === 'gray' ? 'gray22' : path.basename(profile, '.icc');
  const ext = format === 'jpeg' ? 'jpg' : 'png';
  const files = { plain: path.join(folder, `${name}-${format}-plain.${ext}`), tagged: path.join(folder, `${name}-${format}-tagged.${ext}`) };
  writeFileSync(files.plain, plain);
  writeFileSync(files.tagged, tagged);
  return files;
}

const maxDifference = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('embedded ICC profiles', () => {
  for (const format of ['png', 'jpeg'] as const) {
    it(`${format}: tagged sRGB and Display P3 give the bit-identical tensor of the untagged twin by default; 'convert' changes P3`, async () => {
      for (const profile of ['srgb', 'p3']) {
        const { plain, tagged } = await twins(profile, format);
        assert.ok((await sharp(tagged).metadata()).hasProfile, `${tagged} carries a profile`);
        assert.equal((await sharp(plain).metadata()).hasProfile, false);
        assert.deepEqual(await loadImageTensor(tagged, spec), await loadImageTensor(plain, spec), `${profile} ${format}`);
        assert.deepEqual(
          await loadImageTensor(plain, { ...spec, colorProfile: 'convert' }),
          await loadImageTensor(plain, spec),
          'no profile: nothing to convert',
        );
      }
      const { plain, tagged } = await twins('p3', format);
      // P3 -> sRGB moves saturated colors by several 8-bit steps: well over 0.05 in normalized units
      const moved = maxDifference(await loadImageTensor(tagged, { ...spec, colorProfile: 'convert' }), await loadImageTensor(plain, spec));
      assert.ok(moved > 0.05, `convert moved the tensor by ${moved}`);
    });
  }

  it("colord's Adobe RGB, ProPhoto and Wide Gamut profiles in 8-bit, 16-bit and palette PNG and JPEG, a gray profile in grayscale PNG: the untagged twin's tensor, bit for bit", async () => {
    for (const format of ['png', 'jpeg', 'png16', 'palette', 'gray'] as const) {
      for (const profile of format === 'gray' ? [GRAY] : PROFILES) {
        const { plain, tagged } = await twins(profile, format);
        const meta = await sharp(tagged).metadata();
        assert.ok(meta.hasProfile, `${tagged} carries a profile`);
        if (format === 'png16') assert.equal(meta.depth, 'ushort');
        if (format === 'gray') assert.deepEqual([meta.channels, meta.space], [1, 'b-w']);
        if (format === 'palette') assert.equal(meta.isPalette, true);
        assert.deepEqual(await loadImageTensor(tagged, spec), await loadImageTensor(plain, spec), `${path.basename(profile)} ${format}`);
      }
    }
  });

  it("'convert' moves Adobe RGB, ProPhoto and Wide Gamut colors to sRGB (by more than 0.05 in normalized units)", async () => {
    for (const format of ['png', 'jpeg', 'png16'] as const) {
      for (const profile of PROFILES) {
        const { plain, tagged } = await twins(profile, format);
        const moved = maxDifference(await loadImageTensor(tagged, { ...spec, colorProfile: 'convert' }), await loadImageTensor(plain, spec));
        assert.ok(moved > 0.05, `${path.basename(profile)} ${format}: convert moved the tensor by ${moved}`);
      }
    }
  });

  it('the default is ignore, as PIL reads files', () => {
    assert.equal(spec.colorProfile, 'ignore');
  });
});
