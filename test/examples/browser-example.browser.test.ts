/**
 * examples/browser in Debian's headless Chromium (playwright-core): the page is built and served as
 * its README says, images are picked through its file input, and what it shows is checked against
 * mc-dropout itself. Its preprocessing is mc-dropout's own modules, so a PNG's tensor must equal the
 * CLI's bit for bit; its MC means (the MC graph, T = 30, onnxruntime-web's generator) must lie within
 * 5 standard errors of predict's at T = 2,000: 5 * sd * sqrt(1/30 + 1/2000), sd the per-pass sd of
 * each class probability in predict's passes.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { BUNDLED_MODEL, loadImageTensor, McModel, resolvePreprocess } from '../../src/index.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { readNpy } from '../helpers/npy.js';
import { launchChromium, skipWithoutChromium } from '../helpers/chromium.js';

const skip = skipWithoutChromium;
const PNGS = ['bag-18.png', 'shirt-7.png', 'trouser-2.png'].map((f) => path.join(ROOT, 'fixtures/samples', f));
const JPEG = path.join(ROOT, 'fixtures/samples/bag-34.jpg');
const CLASSES = 10;

interface PageResult {
  name: string;
  label: string;
  confidence: number;
  mutualInformation: number;
  mean: number[];
  tensor: number[];
}

describe('examples/browser: MC dropout in a web page', () => {
  it("shows each picked image's label, confidence and uncertainty from mc-dropout's own preprocessing and the MC graph", { skip }, async () => {
    const example = (await import(pathToFileURL(path.join(ROOT, 'examples/browser/build.mjs')).href)) as {
      build: (out: string, passes: number) => Promise<string>;
      serve: (folder: string, port: number) => Promise<Server>;
    };
    const site = await example.build(tempDir(), 30);
    const server = await example.serve(site, 0);
    const browser = await launchChromium();
    let results: PageResult[];
    let rowsShown: string[][];
    const requests: string[] = [];
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('response', (r) => r.status() >= 400 && problems.push(`${r.status()} ${r.url()}`));
      page.on('request', (r) => requests.push(new URL(r.url()).pathname));
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await page
        .waitForFunction("document.getElementById('status').textContent.startsWith('Ready')", undefined, { timeout: 60_000 })
        .catch((error: unknown) => {
          throw new Error(`the page did not get ready: ${problems.join('; ')} (${String(error)})`);
        });
      await page.setInputFiles('#pick', [...PNGS, JPEG]);
      await page.waitForFunction('window.results && window.results.length === 4', undefined, { timeout: 60_000 });
      results = await page.evaluate<PageResult[]>('window.results');
      rowsShown = await page.evaluate<string[][]>("[...document.querySelectorAll('#rows tr')].map((r) => [...r.cells].slice(0, 3).map((c) => c.textContent))");
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      server.close();
    }
    assert.ok(
      requests.every((r) => ['/', '/app.mjs', '/config.json', '/model-mc.onnx', '/favicon.ico'].includes(r) || r.startsWith('/ort/') || r.startsWith('/lib/')),
      requests.join(', '),
    );
    assert.deepEqual(
      rowsShown,
      results.map((r) => [r.name, r.label, r.confidence.toFixed(4)]),
    );

    // the page's tensors: PNGs bit for bit the CLI's; the JPEG decoded by Chromium's libjpeg-turbo, not libvips'
    const model = await McModel.load(BUNDLED_MODEL, { device: 'cpu' });
    const spec = resolvePreprocess(model.info);
    const labels = model.info.metadata.labels!;
    await model.dispose();
    for (const [k, file] of PNGS.entries()) assert.deepEqual(Float32Array.from(results[k]!.tensor), await loadImageTensor(file, spec), file);
    const jpeg = await loadImageTensor(JPEG, spec);
    const jpegDiff = Math.max(...results[3]!.tensor.map((v, i) => Math.abs(v - jpeg[i]!)));
    console.log(`# the page's JPEG tensor against the CLI's: largest difference ${jpegDiff.toFixed(6)} (normalized units)`);

    // the MC means against predict at T = 2,000 (the PNGs, whose inputs are the CLI's)
    const folder = tempDir();
    const npy = path.join(folder, 'ref.npy');
    const ref = await runCli(['predict', ...PNGS, '-t', '2000', '--seed', '5', '-q', '-o', path.join(folder, 'ref.csv'), '--save-passes', npy]);
    assert.equal(ref.code, 0, ref.stderr);
    const { data } = readNpy(npy);
    const R = 2000;
    PNGS.forEach((file, k) => {
      for (let c = 0; c < CLASSES; c++) {
        const column = Array.from({ length: R }, (_, t) => data[(k * R + t) * CLASSES + c]!);
        const mean = column.reduce((a, b) => a + b, 0) / R;
        const sd = Math.sqrt(column.reduce((a, x) => a + (x - mean) ** 2, 0) / R);
        const bound = 5 * sd * Math.sqrt(1 / 30 + 1 / R) + 1e-6;
        assert.ok(Math.abs(results[k]!.mean[c]! - mean) <= bound, `${file} class ${c}: page ${results[k]!.mean[c]} vs predict ${mean} (bound ${bound})`);
      }
      assert.equal(results[k]!.label, labels[results[k]!.mean.indexOf(Math.max(...results[k]!.mean))]);
    });
  });
});
