import path from 'node:path';
import { RuntimeSession } from '../engine/runtime.js';
import { describeError, ModelError, UsageError } from '../errors.js';
import { checkInputsAreNotOutputs, outputIdentities, outputTarget } from '../io/targets.js';
import { externalLocations } from '../model/external.js';
import { readLabels } from '../io/lines.js';
import { convertModel } from '../model/convert.js';
import { readOnnxFile } from '../model/read.js';
import { writeModelFile } from '../model/write.js';

export interface ConvertCliOptions {
  output: string;
  injectRate?: number;
  live: 'auto' | 'all';
  setRate?: number;
  seed: number;
  labels?: string;
  mean?: number[];
  std?: number[];
  size?: { height: number; width: number };
  resize?: string;
  interpolation?: string;
  cropFraction?: number;
  modelOutput?: string;
}

/** `mc-dropout convert IN -o OUT`: writes an MC-ready model and checks that onnxruntime loads it. */
export async function runConvert(input: string, options: ConvertCliOptions): Promise<number> {
  // the output's place and the files it must not be are checked before the conversion's work
  const target = outputTarget(options.output, 'the converted model');
  if (target.kind !== 'file') throw new UsageError(`The converted model ${options.output} must be a regular file: it is written whole, then renamed into place`);
  const outputs = outputIdentities([target, outputTarget(`${target.file}.data`, "the converted model's weights")]);
  checkInputsAreNotOutputs([{ role: 'the model', path: input }, { role: 'the labels file', path: options.labels }], outputs);
  const { model, folder } = await readOnnxFile(input);
  checkInputsAreNotOutputs(externalLocations(model).map((file) => ({ role: "the model's external weights", path: path.join(folder, file) })), outputs);
  const metadata: Record<string, string> = {};
  if (options.labels) metadata.labels = JSON.stringify(readLabels(options.labels));
  if (options.mean) metadata.mean = JSON.stringify(options.mean);
  if (options.std) metadata.std = JSON.stringify(options.std);
  if (options.size) metadata.input_size = `${options.size.height}x${options.size.width}`;
  if (options.resize) metadata.resize = options.resize;
  if (options.interpolation) metadata.interpolation = options.interpolation;
  if (options.cropFraction !== undefined) metadata.crop_fraction = String(options.cropFraction);
  if (Object.keys(metadata).length > 0) metadata.format = '1';

  const report = convertModel(model, {
    liveAll: options.live === 'all', seed: options.seed, metadata, ...(options.modelOutput !== undefined && { output: options.modelOutput }),
    ...(options.injectRate !== undefined && { injectRate: options.injectRate }),
    ...(options.setRate !== undefined && { setRate: options.setRate }),
  });
  // the check loads the written file by absolute path, as a user would from any folder
  const written = await writeModelFile(report.model, folder, options.output, async (file) => {
    try {
      const check = await RuntimeSession.create(path.resolve(file), { provider: 'cpu', deviceId: 0, threads: 1 });
      await check.release();
    } catch (error) {
      throw new ModelError(`The converted model does not load in onnxruntime (${describeError(error)}); ${input} was left as it is and ${options.output} was not written`);
    }
  });
  const sites = report.converted.map((c) => `${c.site} on ${c.input} (p=${c.rate})`).join(', ');
  process.stderr.write(`mc-dropout: wrote ${options.output}: ${report.converted.length} random-mask dropout site(s): ${sites}${report.injectedBefore ? `; injected before ${report.injectedBefore}` : ''}${written.dataFile ? `; weights in ${written.dataFile} (keep it beside the model)` : ''}\n`);
  return 0;
}
