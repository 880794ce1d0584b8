/** The bundled model's MC graph (T = 10) in onnxruntime-web (WASM, one thread) in headless Chromium: images/s at B = 64. */
import { existsSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { ROOT, work } from '../harness.js';

const CHROMIUM = process.env.MC_DROPOUT_CHROMIUM ?? '/usr/bin/chromium';

const PAGE = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module">
import * as ort from './ort/ort.wasm.min.mjs';
ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;
ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';
const config = await (await fetch('./config.json')).json();
const session = await ort.InferenceSession.create('./model-mc.onnx', { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
window.timeRuns = async (batch, runs) => {
  const data = new Float32Array(batch * 3 * config.size[0] * config.size[1]).map((_, i) => Math.sin(i));
  const feeds = { [config.input]: new ort.Tensor('float32', data, [batch, 3, ...config.size]) };
  await session.run(feeds);
  const start = performance.now();
  for (let r = 0; r < runs; r++) await session.run(feeds);
  return (performance.now() - start) / 1000 / runs;
};
</script>`;

/** Images/s of the MC graph in the page (median of 5 timings of `runs` runs each), or undefined without Chromium. */
export async function browserImagesPerSecond(batch = 64, runs = 5): Promise<number | undefined> {
  if (!existsSync(CHROMIUM)) return undefined;
  const example = (await import(pathToFileURL(path.join(ROOT, 'examples/browser/build.mjs')).href)) as {
    build: (out: string, passes: number) => Promise<string>;
    serve: (folder: string, port: number) => Promise<Server>;
  };
  const site = await example.build(path.join(work, 'browser-site'), 10);
  writeFileSync(path.join(site, 'bench.html'), PAGE);
  const server = await example.serve(site, 0);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/bench.html`);
    await page.waitForFunction('typeof window.timeRuns === "function"', undefined, { timeout: 60_000 });
    const seconds: number[] = [];
    for (let k = 0; k < 5; k++) seconds.push(await page.evaluate<number>(`window.timeRuns(${batch}, ${runs})`));
    return batch / seconds.sort((a, b) => a - b)[2]!;
  } finally {
    await browser.close();
    server.close();
  }
}
