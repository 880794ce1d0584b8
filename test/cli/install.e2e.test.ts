/**
 * The install path a user takes: the package as the registry would serve it (npm pack), installed
 * globally into a fresh prefix with onnxruntime-node's download skipped, runs predict like the
 * checkout does; and the container recipes install that same tarball.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
const TARBALL = `${pkg.name}-${pkg.version}.tgz`;

describe('install from the packed tarball', () => {
  it('npm pack holds the compiled code, the bundled model and the README, not the tests or fixtures', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT });
    const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const wanted of [
      'bin/mc-dropout.js',
      'dist/src/cli/main.js',
      'dist/cli/main.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'models/fashion-mnist-mc.onnx',
      'README.md',
      'package.json',
    ]) {
      assert.ok(files.includes(wanted), `the tarball lacks ${wanted}`);
    }
    assert.deepEqual(
      files.filter((f) => /^(dist\/test|fixtures|test|src)\//.test(f)),
      [],
    );
  });

  it("the checkout's binary runs the bundle (dist/cli), loading no module of dist/src, and prints the package's version", async () => {
    // a loader hook that reports every file URL the process imports
    const hook = `data:text/javascript,${encodeURIComponent(
      "import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent('export async function load(u, c, n) { if (u.startsWith(\"file:\")) process._rawDebug(\"LOADED \" + u); return n(u, c); }'));",
    )}`;
    const { stdout, stderr } = await run(process.execPath, ['--import', hook, path.join(ROOT, 'bin', 'mc-dropout.js'), '--version'], { cwd: ROOT });
    assert.equal(stdout, `${pkg.version}\n`);
    const loaded = stderr
      .split('\n')
      .filter((l) => l.startsWith('LOADED '))
      .map((l) => l.slice('LOADED '.length));
    assert.ok(
      loaded.some((u) => u.endsWith('/dist/cli/main.js')),
      stderr,
    );
    assert.deepEqual(
      loaded.filter((u) => u.includes('/dist/src/')),
      [],
    );
  });

  it(
    'npm install --global of the tarball into a fresh prefix (ONNXRUNTIME_NODE_INSTALL=skip) runs predict with the same bytes as the checkout',
    { timeout: 240_000 },
    async () => {
      const folder = tempDir();
      const prefix = path.join(folder, 'prefix');
      await run('npm', ['pack', '--ignore-scripts', '--pack-destination', folder], { cwd: ROOT });
      const env = {
        ...process.env,
        ONNXRUNTIME_NODE_INSTALL: 'skip',
        npm_config_audit: 'false',
        npm_config_fund: 'false',
        npm_config_update_notifier: 'false',
      };
      await run('npm', ['install', '--global', '--prefix', prefix, '--omit=dev', '--prefer-offline', path.join(folder, TARBALL)], {
        cwd: folder,
        env,
        maxBuffer: 1 << 24,
      });
      const installed = path.join(prefix, 'bin', 'mc-dropout');
      const args = ['predict', path.join(ROOT, 'fixtures', 'samples'), '-t', '3', '--seed', '1', '--device', 'cpu', '-q'];
      assert.equal((await run(installed, ['--version'], { cwd: folder })).stdout, `${pkg.version}\n`);
      const there = await run(installed, args, { cwd: folder });
      const here = await runCli(args, { cwd: folder });
      assert.equal(here.code, 0, here.stderr);
      assert.equal(there.stdout.split('\n').length, 52);
      assert.equal(there.stdout, here.stdout);
    },
  );

  it('the container recipes install that tarball and run the command', () => {
    for (const file of ['Dockerfile', 'Dockerfile.cuda']) {
      const text = readFileSync(path.join(ROOT, 'examples', 'container', file), 'utf8');
      assert.match(text, new RegExp(`^COPY ${TARBALL.replace(/\./g, '\\.')} /tmp/$`, 'm'), file);
      assert.match(text, new RegExp(`npm install --global --omit=dev .*/tmp/${TARBALL.replace(/\./g, '\\.')}`), file);
      assert.match(text, /^ENTRYPOINT \["mc-dropout"\]$/m, file);
    }
    assert.match(readFileSync(path.join(ROOT, 'examples', 'container', 'Dockerfile'), 'utf8'), /^ENV ONNXRUNTIME_NODE_INSTALL=skip$/m);
    assert.match(readFileSync(path.join(ROOT, 'examples', 'container', 'Dockerfile.cuda'), 'utf8'), /^ENV ONNXRUNTIME_NODE_INSTALL=cuda12$/m);
  });
});
