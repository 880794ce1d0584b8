/**
 * The MC graph in onnxruntime-web (the npm package, WASM backend, 1.30 like onnxruntime-node) inside
 * Debian's headless Chromium, driven by playwright-core: the page, the runtime and the model come
 * from a local server started here (WASM does not load from file://), and the page asks for nothing
 * else. The WASM build draws other random numbers than onnxruntime-node (not bit for bit, unlike
 * onnxruntime for Python), so its MC means must agree with node's within Monte Carlo error: two
 * independent estimates over T passes differ by sd(p) * sqrt(2 / T); the bound is 5 of those, sd(p)
 * the per-class sd node's graph reports, plus 1e-6.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { loadImageTensor, McModel, resolvePreprocess } from '../../src/index.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { launchChromium, skipWithoutChromium } from '../helpers/chromium.js';

const skip = skipWithoutChromium;
const ORT_WEB = path.join(ROOT, 'node_modules/onnxruntime-web/dist');
const FILES = ['bag-18.png', 'shirt-7.png', 'coat-10.png'].map((f) => path.join(ROOT, 'fixtures/samples', f));

const PAGE = `<!doctype html><meta charset="utf-8"><title>MC graph</title>
<script type="module">
import * as ort from '/ort/ort.wasm.min.mjs';
ort.env.wasm.wasmPaths = '/ort/';
ort.env.wasm.numThreads = 1;
const [model, images] = await Promise.all([fetch('/model.onnx'), fetch('/images.bin')].map((r) => r.then((x) => x.arrayBuffer())));
const dims = JSON.parse(document.location.hash.slice(1));
const session = await ort.InferenceSession.create(new Uint8Array(model), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array(images), dims) });
window.result = Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data, Number)]));
</script>`;

function serve(files: Record<string, { body: Buffer | string; type: string }>, requests: string[]): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost').pathname;
    requests.push(url);
    const file = url.startsWith('/ort/')
      ? { body: readFileSync(path.join(ORT_WEB, path.basename(url))), type: url.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' }
      : files[url];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file.type }).end(file.body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('the MC graph in onnxruntime-web, in headless Chromium', () => {
  it(
    "runs the MC graph, and a stochastic-depth model's (prefix sharing: Unique, Gather): its means within 5 standard errors of onnxruntime-node's, the same labels; the page asks only for its own files",
    { skip },
    async () => {
      const cases = [
        // confident images: the same labels too
        { model: path.join(ROOT, 'models/fashion-mnist-mc.onnx'), T: 1000, sameLabels: true },
        // random weights: means close to uniform, labels left to chance
        { model: path.join(ROOT, 'fixtures/modern/effnet_droppath.onnx'), T: 400, sameLabels: false },
      ];
      for (const { model: file, T, sameLabels } of cases) await agreesInBrowser(file, T, sameLabels);
    },
  );
});

/** The MC graph of `file` at T passes in onnxruntime-web against onnxruntime-node, on FILES. */
async function agreesInBrowser(file: string, T: number, sameLabels: boolean): Promise<void> {
  const folder = tempDir();
  const graph = path.join(folder, 'mc.onnx');
  const made = await runCli(['convert', file, '--mc-graph', String(T), '-o', graph]);
  assert.equal(made.code, 0, made.stderr);
  const model = await McModel.load(file, { device: 'cpu' });
  const spec = resolvePreprocess(model.info);
  const tensors = await Promise.all(FILES.map((f) => loadImageTensor(f, spec)));
  const dims = [tensors.length, ...model.info.inputDims.slice(1)];
  await model.dispose();
  const data = new Float32Array(tensors.length * tensors[0]!.length);
  tensors.forEach((t, i) => data.set(t, i * t.length));

  const session = await ort.InferenceSession.create(graph, { logSeverityLevel: 3 });
  const nodeOut = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', data, dims) });
  await session.release();
  const expected = Object.fromEntries(Object.entries(nodeOut).map(([k, t]) => [k, Array.from(t.data as ArrayLike<number | bigint>, Number)]));

  const requests: string[] = [];
  const server = await serve(
    {
      '/': { body: PAGE, type: 'text/html' },
      '/model.onnx': { body: readFileSync(graph), type: 'application/octet-stream' },
      '/images.bin': { body: Buffer.from(data.buffer), type: 'application/octet-stream' },
    },
    requests,
  );
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    const { port } = server.address() as AddressInfo;
    await page.goto(`http://127.0.0.1:${port}/#${JSON.stringify(dims)}`);
    await page.waitForFunction('window.result !== undefined', undefined, { timeout: 60_000 });
    const web = await page.evaluate<Record<string, number[]>>('window.result');
    assert.deepEqual(problems, [], file);
    assert.deepEqual(Object.keys(web).sort(), Object.keys(expected).sort());
    const classes = expected.mean!.length / FILES.length;
    expected.mean!.forEach((m, k) => {
      const bound = 5 * expected.std![k]! * Math.sqrt(2 / T) + 1e-6;
      assert.ok(
        Math.abs(web.mean![k]! - m) <= bound,
        `${path.basename(file)} image ${Math.floor(k / classes)} class ${k % classes}: web ${web.mean![k]} vs node ${m} (bound ${bound})`,
      );
    });
    if (sameLabels) assert.deepEqual(web.label, expected.label);
    // other random numbers than node's; the page's own statistics are consistent with its mean
    assert.notDeepEqual(web.mean, expected.mean);
    web.label!.forEach((label, i) => assert.equal(web.confidence![i], web.mean![i * classes + label]));
    assert.ok(
      requests.every((r) => r === '/' || r === '/model.onnx' || r === '/images.bin' || r.startsWith('/ort/') || r === '/favicon.ico'),
      requests.join(', '),
    );
  } finally {
    await browser.close();
    server.close();
  }
}
