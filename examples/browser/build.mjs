// Builds the browser example into a folder (default examples/browser/site): the page, onnxruntime-web's
// WASM build, mc-dropout's compiled preprocess modules, the bundled model's MC graph and its settings.
// Run `npm run build` first. Usage: node examples/browser/build.mjs [OUT] [--times T]
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..', '..');
const { BUNDLED_MODEL, convertFile, McModel, resolvePreprocess } = await import(path.join(ROOT, 'dist/src/index.js'));

export async function build(out = path.join(HERE, 'site'), passes = 30) {
  for (const folder of ['ort', 'lib/preprocess/simd']) mkdirSync(path.join(out, folder), { recursive: true });
  for (const file of ['index.html', 'app.mjs']) copyFileSync(path.join(HERE, file), path.join(out, file));
  const ortDist = path.join(ROOT, 'node_modules/onnxruntime-web/dist');
  for (const file of ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']) copyFileSync(path.join(ortDist, file), path.join(out, 'ort', file));
  for (const file of ['errors.js', 'preprocess/resample.js', 'preprocess/tensor.js', 'preprocess/simd/resample-wasm.js']) {
    copyFileSync(path.join(ROOT, 'dist/src', file), path.join(out, 'lib', file));
  }
  await convertFile({ input: BUNDLED_MODEL, output: path.join(out, 'model-mc.onnx'), mcGraph: passes, seed: 0 });
  const model = await McModel.load(BUNDLED_MODEL, { device: 'cpu' });
  const spec = resolvePreprocess(model.info);
  if (spec.resize !== 'stretch') throw new Error(`the page resizes by stretching; the model asks for ${spec.resize}`);
  const config = {
    input: model.info.inputName,
    size: [spec.height, spec.width],
    interpolation: spec.interpolation,
    channelOrder: spec.channelOrder,
    mean: spec.mean,
    std: spec.std,
    labels: model.info.metadata.labels,
    passes,
  };
  await model.dispose();
  writeFileSync(path.join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  return out;
}

/** A static server for the folder (WASM does not load from file://). */
export async function serve(folder, port = 8080) {
  const { createServer } = await import('node:http');
  const { readFile } = await import('node:fs/promises');
  const types = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost').pathname;
    const file = path.join(folder, url === '/' ? 'index.html' : path.normalize(url).replace(/^(\.\.[/\\])+/, ''));
    let body;
    try {
      body = await readFile(file);
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' }).end(body);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const times = args.includes('--times') ? Number(args[args.indexOf('--times') + 1]) : 30;
  const out = await build(args.find((a) => !a.startsWith('--') && a !== String(times)), times);
  console.log(`built ${out}`);
  if (args.includes('--serve')) {
    await serve(out);
    console.log('serving it at http://127.0.0.1:8080/ (Ctrl-C stops)');
  }
}
