import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterEach, describe, it, mock } from 'node:test';
import type SharpConstructor from 'sharp';
import { InputError, UsageError } from '../../src/errors.js';
import type { Interpolation, ResizeMode } from '../../src/model/metadata.js';
import { decodeToPixels, imageHeader } from '../../src/preprocess/decode.js';
import { decodeViews, type ViewRequest } from '../../src/preprocess/decode-views.js';
import { resolvePreprocess, type PreprocessSpec } from '../../src/preprocess/spec.js';
import { IDENTITY_VIEW, MAX_VIEWS, parseViews, viewName, type CropPosition, type View, type ViewSpec } from '../../src/preprocess/views.js';
import { ROOT } from '../helpers/cli.js';

interface GoldenCase {
  image: string;
  size: [number, number];
  resize: ResizeMode;
  crop_fraction: number;
  interpolation: Interpolation;
  views: Record<string, string>;
}

const FIXTURES = path.join(ROOT, 'fixtures');
const golden = JSON.parse(readFileSync(path.join(FIXTURES, 'tta', 'golden.json'), 'utf8')) as { cases: GoldenCase[] };
const PHOTO = path.join(FIXTURES, 'odd', 'photo-97x75.png');

const sha256 = (pixels: Uint8Array) => createHash('sha256').update(pixels).digest('hex');
const modelSpec = (height: number, width: number, overrides: Parameters<typeof resolvePreprocess>[1] = {}): PreprocessSpec =>
  resolvePreprocess({ height, width, layout: 'NCHW', metadata: {} }, overrides);
const CENTER = modelSpec(32, 32, { resize: 'center-crop' });
const STRETCH = modelSpec(32, 32, { resize: 'stretch' });
const PAD = modelSpec(32, 32, { resize: 'pad', background: [10, 20, 30] });

/** Every view the golden holds, by name: the identity, flip, ten crops, and each scale with its mirror. */
function goldenViews(names: string[]): View[] {
  const crops: CropPosition[] = ['tl', 'tr', 'bl', 'br', 'center'];
  const all: View[] = [IDENTITY_VIEW, { kind: 'model', flip: true }];
  for (const at of crops) all.push({ kind: 'crop', at, flip: false }, { kind: 'crop', at, flip: true });
  for (const name of names.filter((n) => n.startsWith('scale-'))) {
    const factor = Number(name.slice('scale-'.length));
    all.push({ kind: 'scale', factor, flip: false }, { kind: 'scale', factor, flip: true });
  }
  assert.deepEqual(all.map(viewName).sort(), [...names].sort(), 'the golden names are the views of viewName');
  return all;
}

/** sharp as the decoder loads it: its CommonJS entry (its ES module entry is another copy, whose prototype the decoder never calls). */
const sharp = createRequire(import.meta.url)('sharp') as typeof SharpConstructor;

/** Counts sharp pipelines run to pixels (each decode ends in one toBuffer) while `body` runs. */
async function decodesDuring(body: () => Promise<unknown>): Promise<number> {
  const toBuffer = mock.method(sharp.prototype, 'toBuffer');
  try {
    await body();
    return toBuffer.mock.callCount();
  } finally {
    toBuffer.mock.restore();
  }
}

function mirror(rgb: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let p = 0; p < rgb.length / 3; p++) {
    const [y, x] = [Math.floor(p / width), p % width];
    out.set(rgb.subarray(p * 3, p * 3 + 3), (y * width + (width - 1 - x)) * 3);
  }
  return out;
}

describe('test-time views, byte for byte as torchvision makes them (fixtures/tta/golden.json)', () => {
  for (const c of golden.cases) {
    const label = `${c.image} ${c.size.join('x')} ${c.resize} ${c.interpolation} f=${c.crop_fraction}`;
    it(`${label}: every view`, async () => {
      const spec = modelSpec(c.size[0], c.size[1], { resize: c.resize, interpolation: c.interpolation, cropFraction: c.crop_fraction });
      const views = goldenViews(Object.keys(c.views));
      const pixels = await decodeViews(
        path.join(FIXTURES, c.image),
        views.map((view) => ({ spec, view })),
      );
      const wrong = views.filter((view, i) => sha256(pixels[i]!) !== c.views[viewName(view)]).map(viewName);
      assert.deepEqual(wrong, []);
    });
  }

  it('the golden covers both modes, four filters, a non-square input and a center crop whose flip is not the mirror of the identity', async () => {
    assert.deepEqual([...new Set(golden.cases.map((c) => c.resize))].sort(), ['center-crop', 'stretch']);
    assert.deepEqual([...new Set(golden.cases.map((c) => c.interpolation))].sort(), ['bicubic', 'bilinear', 'lanczos3', 'nearest']);
    assert.ok(golden.cases.some((c) => c.size[0] !== c.size[1]));
    // 28x32 at 0.8 on the 97x75 photo: resized to 45x35, a margin of 13 columns, odd
    const spec = modelSpec(28, 32, { resize: 'center-crop', interpolation: 'bicubic', cropFraction: 0.8 });
    const [identity, flip] = await decodeViews(PHOTO, [
      { spec, view: IDENTITY_VIEW },
      { spec, view: { kind: 'model', flip: true } },
    ]);
    assert.notDeepEqual(flip, mirror(identity!, 32), "hflip before the crop, TenCrop's order: one column off where the margin is odd");
  });
});

describe('parseViews', () => {
  const names = (text: string, specs?: ViewSpec[]) => parseViews(text, specs).map(viewName);
  const TEN = ['crop-tl', 'crop-tr', 'crop-bl', 'crop-br', 'crop-center'];

  it('starts with the identity, then the crops, the scales as given, then the mirrors', () => {
    assert.deepEqual(names('flip'), ['identity', 'flip']);
    assert.deepEqual(names('five-crop'), ['identity', ...TEN]);
    assert.deepEqual(names('ten-crop'), ['identity', ...TEN, ...TEN.map((n) => `flip-${n}`)]);
    assert.deepEqual(names('scale:1.25,flip,scale:0.75'), ['identity', 'scale-1.25', 'scale-0.75', 'flip', 'flip-scale-1.25', 'flip-scale-0.75']);
    assert.deepEqual(names('flip,five-crop'), names('flip,ten-crop'), 'flip and five-crop are ten-crop with the mirrored identity');
    assert.deepEqual(names('five-crop,ten-crop'), names('ten-crop'));
  });

  it('drops a view that is by definition an earlier one, for every model given', () => {
    assert.deepEqual(names('scale:1'), ['identity']);
    assert.deepEqual(names('flip,scale:1.0'), ['identity', 'flip']);
    // a center crop's FiveCrop center is its identity, and the center crop of the mirror is flip
    assert.deepEqual(names('five-crop', [CENTER]), ['identity', 'crop-tl', 'crop-tr', 'crop-bl', 'crop-br']);
    assert.deepEqual(names('ten-crop', [CENTER]), ['identity', 'crop-tl', 'crop-tr', 'crop-bl', 'crop-br', ...TEN.map((n) => `flip-${n}`)]);
    assert.deepEqual(names('flip,ten-crop', [CENTER]), [
      'identity',
      'crop-tl',
      'crop-tr',
      'crop-bl',
      'crop-br',
      'flip',
      'flip-crop-tl',
      'flip-crop-tr',
      'flip-crop-bl',
      'flip-crop-br',
    ]);
    // a stretching model crops from a larger stretch: its center crop is a view of its own
    assert.deepEqual(names('five-crop', [STRETCH]), ['identity', ...TEN]);
    assert.deepEqual(names('five-crop', [CENTER, STRETCH]), ['identity', ...TEN], 'kept where one model differs');
    // stretched at crop fraction 1 every crop is the whole; a scale that rounds to the same size is too
    assert.deepEqual(names('ten-crop,flip', [{ ...STRETCH, cropFraction: 1 }]), ['identity', 'flip']);
    assert.deepEqual(names('scale:1.01', [STRETCH]), ['identity'], 'floor(1.01 * 32) = 32');
    assert.deepEqual(names('scale:1.01', [modelSpec(224, 224, { resize: 'center-crop' })]), ['identity', 'scale-1.01'], 'floor(1.01 * 256) = 258');
    assert.deepEqual(names('flip', [PAD]), ['identity', 'flip']);
  });

  it(`holds at most ${MAX_VIEWS} views, the identity included`, () => {
    const scales = (n: number) => Array.from({ length: n }, (_, i) => `scale:${(0.5 + i * 0.01).toFixed(2)}`);
    assert.equal(parseViews(['flip', ...scales(15)].join(',')).length, 32);
    assert.throws(
      () => parseViews(['flip', ...scales(16)].join(',')),
      /at most 32 views \(the identity included\) for `views` but received '34 views \(flip,scale:0.50,/,
    );
    assert.throws(() => parseViews(scales(100).join(',')), /at most 32 views .* but received '100 names'/);
  });

  const hostile: [string, string, RegExp][] = [
    ['an empty list', '', /comma-separated view names, each once, without spaces: flip, five-crop, ten-crop, scale:S .* for `views` but received ''$/],
    ['only spaces', '  ', /without spaces/],
    ['a space after a comma', 'flip, five-crop', /without spaces.* but received 'flip, five-crop'/],
    ['a trailing newline', 'flip\n', /without spaces/],
    ['a trailing comma', 'flip,', /but received 'flip,'$/],
    ['a leading comma', ',flip', /but received ',flip'$/],
    ['a doubled comma', 'flip,,ten-crop', /but received 'flip,,ten-crop'$/],
    ['an unknown name', 'mirror', /flip, five-crop, ten-crop, scale:S .* but received 'mirror'$/],
    ['a name in capitals', 'FLIP', /but received 'FLIP'$/],
    ['the identity, which is always there', 'identity', /but received 'identity'$/],
    ['NaN', 'NaN', /but received 'NaN'$/],
    ['scale without a factor', 'scale', /but received 'scale'$/],
    [
      'scale with an empty factor',
      'scale:',
      /a scale factor in \[0.5, 2\] written as a decimal with at most 4 decimals \(scale:1.25\) for `views` but received 'scale:'$/,
    ],
    ['scale:abc', 'scale:abc', /a scale factor in \[0.5, 2\].* but received 'scale:abc'$/],
    ['scale:NaN', 'scale:NaN', /a scale factor/],
    ['scale:0', 'scale:0', /a scale factor/],
    ['scale:1e9', 'scale:1e9', /a scale factor/],
    ['scale:1e0 (an exponent)', 'scale:1e0', /a scale factor/],
    ['scale:-1', 'scale:-1', /a scale factor/],
    ['scale:+1.5', 'scale:+1.5', /a scale factor/],
    ['scale:0.4 (below the range)', 'scale:0.4', /a scale factor/],
    ['scale:2.5 (above the range)', 'scale:2.5', /a scale factor/],
    ['scale:Infinity', 'scale:Infinity', /a scale factor/],
    ['scale:1.00001 (five decimals)', 'scale:1.00001', /a scale factor/],
    ['scale=1.25 (the other separator)', 'scale=1.25', /but received 'scale=1.25'$/],
    ['a name twice', 'flip,flip', /each view name once for `views` but received 'flip,flip'$/],
    ['one scale twice', 'scale:1.5,scale:1.50', /each view name once/],
  ];
  for (const [what, text, message] of hostile) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => parseViews(text),
        (error: unknown) => error instanceof UsageError && message.test(error.message),
      );
    });
  }

  it('refuses crops and scales for a model that pads, naming the view', () => {
    assert.throws(() => parseViews('flip,five-crop', [PAD]), /the identity and flip alone for a model that pads .* for `views` but received 'crop-tl'$/);
    assert.throws(() => parseViews('scale:1.25', [CENTER, PAD]), /received 'scale-1.25'$/);
  });
});

describe('decodeViews', () => {
  afterEach(() => mock.restoreAll());

  it('one identity request gives decodeToPixels, byte for byte, through its own paths (partial crop decode, fast engine)', async () => {
    const header = await imageHeader(PHOTO);
    for (const spec of [CENTER, STRETCH, PAD, { ...CENTER, resizeEngine: 'fast' as const }, { ...STRETCH, resizeEngine: 'fast' as const }]) {
      for (const h of [undefined, header]) {
        const [pixels] = await decodeViews(PHOTO, [{ spec, view: IDENTITY_VIEW }], h);
        assert.deepEqual(pixels, await decodeToPixels(PHOTO, spec, h), `${spec.resize} ${spec.resizeEngine}`);
      }
    }
  });

  it('several views decode the file once, and each identity among them is still decodeToPixels', async () => {
    const views = parseViews('flip,ten-crop,scale:0.6,scale:1.25');
    const requests = views.map((view) => ({ spec: CENTER, view }));
    let pixels: Uint8Array[] = [];
    assert.equal(await decodesDuring(async () => (pixels = await decodeViews(PHOTO, requests))), 1);
    assert.equal(pixels.length, views.length);
    assert.deepEqual(pixels[0], await decodeToPixels(PHOTO, CENTER));
    assert.equal(await decodesDuring(() => decodeToPixels(PHOTO, CENTER)), 1, 'the count counts decodes');
  });

  it('requests of two models (sizes, filters, mean and std apart) share the decode and each gets its own pixels', async () => {
    const other = modelSpec(28, 32, { resize: 'center-crop', interpolation: 'bicubic', cropFraction: 0.8, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
    const views = parseViews('flip,five-crop,scale:1.25', [CENTER, STRETCH, other]);
    const requests: ViewRequest[] = [CENTER, STRETCH, other].flatMap((spec) => views.map((view) => ({ spec, view })));
    let together: Uint8Array[] = [];
    assert.equal(await decodesDuring(async () => (together = await decodeViews(PHOTO, requests))), 1);
    for (const [i, request] of requests.entries()) {
      const [alone] = await decodeViews(PHOTO, [request]);
      assert.equal(together[i]!.length, request.spec.height * request.spec.width * 3);
      assert.deepEqual(together[i], alone, `${request.spec.height}x${request.spec.width} ${request.spec.resize} ${viewName(request.view)}`);
    }
  });

  it("a model that pads: flip is the mirror of its letterbox on the background; 'fast' serves the identity alongside", async () => {
    const identity = await decodeToPixels(PHOTO, PAD);
    const fast = { ...STRETCH, background: PAD.background, resizeEngine: 'fast' as const };
    const [box, flipped, fastIdentity] = await decodeViews(PHOTO, [
      { spec: PAD, view: IDENTITY_VIEW },
      { spec: PAD, view: { kind: 'model', flip: true } },
      { spec: fast, view: IDENTITY_VIEW },
    ]);
    assert.deepEqual(box, identity);
    assert.deepEqual(flipped, mirror(identity, 32));
    assert.deepEqual(Array.from(flipped.subarray(0, 3)), [10, 20, 30]);
    assert.deepEqual(fastIdentity, await decodeToPixels(PHOTO, fast));
  });

  it('refuses, before decoding, requests that cannot share a decode or a view the model cannot have', async () => {
    const refused: [string, ViewRequest[], RegExp][] = [
      ['no request', [], /Expected at least one request for `requests` but received 0 requests/],
      [
        'two color profiles',
        [
          { spec: CENTER, view: IDENTITY_VIEW },
          { spec: { ...CENTER, colorProfile: 'convert' }, view: IDENTITY_VIEW },
        ],
        /requests that decode alike \(one alpha, background, colorProfile, pixelLimit for all\) for `requests` but received 'colorProfile "ignore" and "convert"'/,
      ],
      [
        'two backgrounds',
        [
          { spec: PAD, view: IDENTITY_VIEW },
          { spec: CENTER, view: IDENTITY_VIEW },
        ],
        /background \[10,20,30\] and \[0,0,0\]/,
      ],
      [
        'two pixel limits',
        [
          { spec: CENTER, view: IDENTITY_VIEW },
          { spec: { ...CENTER, pixelLimit: 5 }, view: IDENTITY_VIEW },
        ],
        /pixelLimit 100000000 and 5/,
      ],
      [
        'the fast engine with flip',
        [{ spec: { ...CENTER, resizeEngine: 'fast' }, view: { kind: 'model', flip: true } }],
        /'exact' for test-time views other than the identity .* for `resizeEngine` but received 'fast'/,
      ],
      ['a crop of a model that pads', [{ spec: PAD, view: { kind: 'crop', at: 'tl', flip: false } }], /for a model that pads .* but received 'crop-tl'/],
      [
        'a crop larger than its stretch',
        [{ spec: { ...STRETCH, cropFraction: 1.5 }, view: { kind: 'crop', at: 'tl', flip: false } }],
        /for `cropFraction` but received 1.5/,
      ],
    ];
    for (const [what, requests, message] of refused) {
      const decodes = await decodesDuring(() =>
        assert.rejects(decodeViews(PHOTO, requests), (e: unknown) => e instanceof UsageError && message.test(e.message), what),
      );
      assert.equal(decodes, 0, what);
    }
  });

  it("a file that does not decode is decodeToPixels' InputError naming it", async () => {
    for (const [name, reason] of [
      ['truncated.jpg', 'truncated image'],
      ['text.png', 'not an image'],
    ]) {
      const file = path.join(FIXTURES, 'bad', name!);
      await assert.rejects(
        decodeViews(file, [
          { spec: CENTER, view: IDENTITY_VIEW },
          { spec: CENTER, view: { kind: 'model', flip: true } },
        ]),
        (e: unknown) => e instanceof InputError && e.file === file && e.reason === reason && e.message === `${file}: ${reason}`,
      );
    }
  });
});
