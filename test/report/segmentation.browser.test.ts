/**
 * A segmentation model's report in a real headless Chromium: offline, every image (thumbnail,
 * truth, label and entropy maps) loads, nothing reaches the console, the maps sit side by side.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { launchChromium, skipWithoutChromium } from '../helpers/chromium.js';

describe('a segmentation report in headless Chromium', () => {
  it(
    'renders offline: the metrics, and for the most uncertain canvases the image, truth, label and entropy maps in one row each',
    { skip: skipWithoutChromium },
    async () => {
      const html = path.join(tempDir(), 'report.html');
      const run = await runCli([
        'report',
        'fixtures/seg-samples',
        '-m',
        'models/fashion-seg-mc.onnx',
        '--masks',
        'fixtures/seg-samples-masks',
        '-t',
        '10',
        '--seed',
        '1',
        '--device',
        'cpu',
        '-q',
        '-o',
        html,
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.doesNotMatch(readFileSync(html, 'utf8'), /<script/i);
      const browser = await launchChromium({ width: 1280, height: 900 });
      try {
        const page = await browser.newPage();
        const problems: string[] = [];
        const requests: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
        });
        page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
        page.on('request', (r) => requests.push(r.url()));
        const url = pathToFileURL(html).href;
        await page.goto(url, { waitUntil: 'load' });
        const imgs = await page.$$eval('.maps img', (all) => all.map((i) => ({ alt: i.alt, loaded: i.complete && i.naturalWidth > 0 })));
        // the 8 samples: 4 images each (the canvas, its truth, its label map, its entropy map)
        assert.equal(imgs.length, 32);
        assert.deepEqual(
          imgs.filter((i) => !i.loaded),
          [],
        );
        // the four of one row side by side: one top, four lefts
        const boxes = await page.$$eval('.maps:first-of-type img', (all) =>
          all.map((i) => i.getBoundingClientRect()).map((r) => [Math.round(r.top), Math.round(r.left)]),
        );
        assert.equal(new Set(boxes.map(([top]) => top)).size, 1, JSON.stringify(boxes));
        assert.equal(new Set(boxes.map(([, left]) => left)).size, 4);
        assert.match((await page.textContent('h2')) ?? '', /Pixel metrics/);
        assert.deepEqual(problems, []);
        assert.deepEqual(
          requests.filter((r) => r !== url && !r.startsWith('data:')),
          [],
        );
      } finally {
        await browser.close();
      }
    },
  );
});
