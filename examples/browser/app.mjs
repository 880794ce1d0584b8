// The page: decode each image without color management, the PIL-exact resize and the tensor layout
// of mc-dropout itself (its compiled preprocess modules), then the MC graph in onnxruntime-web.
import * as ort from './ort/ort.wasm.min.mjs';
import { resizeRgbOn } from './lib/preprocess/resample.js';
import { pixelsToTensor } from './lib/preprocess/tensor.js';

ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;
ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';
const config = await (await fetch('./config.json')).json();
const session = await ort.InferenceSession.create('./model-mc.onnx', { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
const status = document.getElementById('status');
const rows = document.getElementById('rows');
status.textContent = `Ready: T = ${config.passes} passes per image.`;
/** What the page computed, for anyone driving it (the test reads it). */
window.results = [];

/** An image file as the model's input tensor, the way mc-dropout predict makes it (stretch, bilinear). */
async function tensorOf(file) {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d', { colorSpace: 'srgb' });
  context.drawImage(bitmap, 0, 0);
  const rgba = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const rgb = new Uint8Array(bitmap.width * bitmap.height * 3);
  for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) rgb.set(rgba.subarray(p, p + 3), q);
  const [height, width] = config.size;
  const resized = resizeRgbOn('js', rgb, bitmap.width, bitmap.height, width, height, config.interpolation);
  return pixelsToTensor(resized, { height, width, layout: 'NCHW', channelOrder: config.channelOrder, mean: config.mean, std: config.std });
}

async function run(files) {
  for (const file of files) {
    const tensor = await tensorOf(file);
    const out = await session.run({ [config.input]: new ort.Tensor('float32', tensor, [1, 3, ...config.size]) });
    const result = {
      name: file.name,
      label: config.labels[Number(out.label.data[0])],
      confidence: out.confidence.data[0],
      mutualInformation: out.mutual_information.data[0],
      entropy: out.entropy.data[0],
      mean: Array.from(out.mean.data),
      tensor: Array.from(tensor),
    };
    window.results.push(result);
    const row = document.createElement('tr');
    const bar = Math.min(100, (100 * result.mutualInformation) / Math.log(config.labels.length));
    for (const text of [result.name, result.label, result.confidence.toFixed(4)]) row.appendChild(document.createElement('td')).textContent = text;
    row.appendChild(document.createElement('td')).innerHTML = `<div class="track" title="${result.mutualInformation.toFixed(4)} nats"><div class="bar" style="width:${bar.toFixed(1)}%"></div></div>`;
    rows.appendChild(row);
  }
  status.textContent = `${window.results.length} images.`;
}

document.getElementById('pick').addEventListener('change', (e) => run([...e.target.files]));
const drop = document.getElementById('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  run([...e.dataTransfer.files].filter((f) => f.type.startsWith('image/')));
});
