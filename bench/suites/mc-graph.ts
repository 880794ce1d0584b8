/** The MC graph (convert --mc-graph) in onnxruntime-node against mc-dropout's engine, T = 10, same batch, inference only. */
import path from 'node:path';
import { McModel } from '../../src/engine/mc-model.js';
import { RuntimeSession } from '../../src/engine/runtime.js';
import { convertFile } from '../../src/run/convert.js';
import { testImages, timeMethods, work, type Method } from '../harness.js';

export interface McGraphRow {
  model: string;
  batch: number;
  /** images/s of mc-dropout's engine (predict's default: trunk reuse where it applies) and of the MC graph. */
  engine: number;
  graph: number;
  /** Whether the graph runs the trunk once per image (the engine's split applied) or tiles the input. */
  graphTrunkReuse: boolean;
}

export async function mcGraphBench(label: string, file: string, batch: number, passes = 10): Promise<McGraphRow> {
  const graphFile = path.join(work, `${path.basename(file, '.onnx')}-mc${passes}.onnx`);
  await convertFile({ input: file, output: graphFile, mcGraph: passes, seed: 1 });
  const model = await McModel.load(file, { device: 'cpu' });
  const images = testImages(model, batch);
  const stacked = new Float32Array(batch * model.imageSize);
  images.forEach((image, i) => stacked.set(image, i * model.imageSize));
  const graph = await RuntimeSession.create(graphFile, { provider: 'cpu', deviceId: 0, threads: 0 });
  const feeds = { [model.info.inputName]: { data: stacked, dims: [batch, ...model.info.inputDims.slice(1)] } };
  const methods: Method[] = [
    { method: 'engine', passes, run: () => model.predict(images, { passes, seed: 1 }) },
    { method: 'graph', passes, run: () => graph.run(feeds, ['mean', 'entropy', 'mutual_information']) },
  ];
  const [engine, inGraph] = await timeMethods(methods);
  const row = { model: label, batch, engine: batch / engine!, graph: batch / inGraph!, graphTrunkReuse: model.plan.trunkReuse };
  await model.dispose();
  await graph.release();
  return row;
}

export function printMcGraph(rows: readonly McGraphRow[], say: (text: string) => void, browser?: number): void {
  say('\nThe MC graph (convert --mc-graph 10) in onnxruntime-node against mc-dropout predict, T=10, inference only (methods take turns)');
  say('| model | B | mc-dropout images/s | MC graph images/s | graph / engine |\n|---|---|---|---|---|');
  for (const r of rows) say(`| ${r.model} | ${r.batch} | ${r.engine.toFixed(1)} | ${r.graph.toFixed(1)} | ${(r.graph / r.engine).toFixed(2)}x |`);
  say(
    browser === undefined
      ? 'The bundled model in onnxruntime-web: not measured (no Chromium)'
      : `The bundled model's MC graph (T=10) in onnxruntime-web, WASM, one thread, headless Chromium, B=64: ${browser.toFixed(1)} images/s`,
  );
}
