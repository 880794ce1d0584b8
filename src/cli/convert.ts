import path from 'node:path';
import { RuntimeSession } from '../engine/runtime.js';
import { describeError, McDropoutError, ModelError, UsageError } from '../errors.js';
import { checkInputsAreNotOutputs, outputIdentities, outputTarget } from '../io/targets.js';
import { externalLocations } from '../model/external.js';
import { readLabels } from '../io/lines.js';
import { convertModel } from '../model/convert.js';
import { readOnnxFile } from '../model/read.js';
import { writeModelFile } from '../model/write.js';

export interface ConvertCliOptions {
  output: string;
  injectRate?: number;
  injectAt?: { tensor: string; rate: number }[];
  revivePaddle?: boolean;
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

  const report = withFlags(() => convertModel(model, {
    liveAll: options.live === 'all', seed: options.seed, metadata, ...(options.modelOutput !== undefined && { output: options.modelOutput }),
    ...(options.injectRate !== undefined && { injectRate: options.injectRate }),
    ...(options.injectAt !== undefined && { injectAt: options.injectAt }),
    ...(options.revivePaddle && { revivePaddle: true }),
    ...(options.setRate !== undefined && { setRate: options.setRate }),
  }));
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
  const revived = report.revived.length > 0 ? `; Paddle dropout made random again at ${report.revived.join(', ')}` : '';
  process.stderr.write(`mc-dropout: wrote ${options.output}: ${report.converted.length} random-mask dropout site(s): ${sites}${report.injectedBefore ? `; injected before ${report.injectedBefore}` : ''}${revived}${written.dataFile ? `; weights in ${written.dataFile} (keep it beside the model)` : ''}\n`);
  if (options.revivePaddle && report.revived.length === 0) process.stderr.write(`mc-dropout: warning: --revive-paddle found no Paddle dropout (a Mul by a constant in (0, 1) into the classifier) in ${input}\n`);
  return 0;
}

/** The library's parameter names, as the convert command's flags. */
const FLAGS: [RegExp, string][] = [[/\bliveAll\b/g, '--live all'], [/\binjectRate\b/g, '--inject-rate'], [/\binjectAt\b/g, '--inject-at'], [/\bsetRate\b/g, '--set-rate']];

/** Runs `work`, restating a library error's parameter names as this command's flags. */
function withFlags<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (!(error instanceof McDropoutError)) throw error;
    error.message = FLAGS.reduce((text, [name, flag]) => text.replace(name, flag), error.message);
    throw error;
  }
}
