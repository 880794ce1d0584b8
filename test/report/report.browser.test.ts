/**
 * The HTML report in a real headless Chromium (Debian's chromium package, driven by
 * playwright-core): it renders from disk with no request but its own file, every image and figure
 * loads, nothing reaches the console, and a screenshot is taken. CI installs chromium; where it
 * is missing the test says how to get it and is skipped.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { launchChromium, skipWithoutChromium } from '../helpers/chromium.js';

const skip = skipWithoutChromium;

describe('mc-dropout report in headless Chromium', () => {
  it('renders offline with every image and figure loaded, no console error, and the gallery escapes file names', { skip }, async () => {
    const folder = tempDir();
    const images = path.join(folder, 'images');
    // the sample images plus one whose name is HTML
    mkdirSync(images);
    for (const name of ['bag-18.png', 'coat-10.png', 'shirt-4.png', 'sneaker-12.png', 'dress-32.png', 'trouser-2.png'])
      copyFileSync(path.join(ROOT, 'fixtures/samples', name), path.join(images, name));
    copyFileSync(path.join(ROOT, 'fixtures/samples/coat-17.jpg'), path.join(images, '<b>bold&.jpg'));
    const truthCsv = path.join(folder, 'truth.csv');
    writeFileSync(
      truthCsv,
      'path,label\nimages/bag-18.png,Bag\nimages/coat-10.png,Coat\nimages/shirt-4.png,Shirt\nimages/sneaker-12.png,Sneaker\nimages/dress-32.png,Dress\nimages/trouser-2.png,Trouser\n"images/<b>bold&.jpg",Coat\n',
    );
    const html = path.join(folder, 'report.html');
    const run = await runCli(['report', images, '--truth', truthCsv, '-t', '8', '--seed', '2', '--device', 'cpu', '-q', '-o', html]);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(readFileSync(html, 'utf8'), /<script/i);

    // a fresh profile folder each run (playwright passes it as --user-data-dir)
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
      page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
      const url = pathToFileURL(html).href;
      await page.goto(url, { waitUntil: 'load' });
      const imgs = await page.$$eval('img', (all) => all.map((i) => ({ alt: i.alt, loaded: i.complete && i.naturalWidth > 0 })));
      // 5 figures, 7 thumbnails in the uncertain gallery, the confidently wrong ones (if any) again
      assert.ok(imgs.length >= 12, `${imgs.length} images`);
      assert.deepEqual(
        imgs.filter((i) => !i.loaded),
        [],
        'images that did not load',
      );
      assert.deepEqual(await page.$$eval('figcaption', (all) => all.map((f) => f.textContent)), [
        'Reliability diagram',
        'Risk-coverage',
        'Metrics against T',
        'Uncertainty of correct and wrong predictions',
        'Confusion matrix',
      ]);
      assert.deepEqual(await page.$$eval('h2', (all) => all.map((h) => h.textContent)), [
        'Metrics',
        'Figures',
        'Most uncertain images',
        'Confidently wrong',
        'Run metadata',
      ]);
      assert.equal(await page.$$eval('table:first-of-type tr', (rows) => rows.length), 17);
      // the HTML-looking file name is text in its card, not markup
      assert.equal(await page.$$eval('.card b', (all) => all.filter((b) => b.textContent?.includes('bold')).length), 0);
      assert.ok(await page.$$eval('.card div[title]', (all) => all.some((d) => d.textContent === 'images/<b>bold&.jpg')));
      // nothing but the page itself was requested (figures and thumbnails are data: URIs)
      assert.deepEqual(
        requests.filter((r) => !r.startsWith('data:')),
        [url],
      );
      assert.deepEqual(problems, []);
      const shot = await page.screenshot({ fullPage: true, path: path.join(folder, 'report.png') });
      assert.equal(shot.subarray(1, 4).toString('latin1'), 'PNG');
      assert.ok(shot.length > 50_000, `screenshot of ${shot.length} bytes`);
    } finally {
      await browser.close();
    }
  });
});

describe('mc-dropout report of an ensemble with a test-time view, in headless Chromium', () => {
  it('shows the methods side by side and the uncertainty split, and nothing fails to render', { skip }, async () => {
    const folder = tempDir();
    const html = path.join(folder, 'report.html');
    const members = ['models/fashion-mnist-mc.onnx', 'models/members/fashion-mnist-seed1.onnx'].flatMap((m) => ['-m', m]);
    const run = await runCli([
      'report',
      'fixtures/samples',
      ...members,
      '--tta',
      'flip',
      '--truth',
      'fixtures/samples.csv',
      '-t',
      '4',
      '--seed',
      '2',
      '--device',
      'cpu',
      '-q',
      '-o',
      html,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
      const headings = await page.$$eval('h3', (all) => all.map((h) => h.textContent ?? ''));
      assert.ok(headings.includes('By method'), headings.join(' | '));
      assert.ok(
        headings.some((h) => h.startsWith('The uncertainty split (mean over 50 images')),
        headings.join(' | '),
      );
      // a row per method: each member off and MC, the ensemble both ways, and both ways with the view
      const methods = await page.$$eval('h3 + table', (tables) => tables.map((t) => [...t.querySelectorAll('tr')].map((r) => r.cells[0]?.textContent ?? '')));
      assert.deepEqual(methods[0]!.slice(1), [
        'models/fashion-mnist-mc.onnx, dropout off',
        'models/fashion-mnist-mc.onnx, MC dropout',
        'models/members/fashion-mnist-seed1.onnx, dropout off',
        'models/members/fashion-mnist-seed1.onnx, MC dropout',
        'ensemble, dropout off',
        'ensemble, MC dropout',
        'ensemble, dropout off + TTA',
        'ensemble, MC dropout + TTA',
      ]);
      assert.deepEqual(methods[1]!.slice(1, 4), ['total entropy', 'expected entropy (aleatoric)', 'mutual information (epistemic)']);
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  });
});
