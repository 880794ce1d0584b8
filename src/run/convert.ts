/** `convert` as a library call: a model file in, an MC-ready model file out, checked to load in onnxruntime. */
import path from 'node:path';
import { McModel } from '../engine/mc-model.js';
import { RuntimeSession } from '../engine/runtime.js';
import { describeError, ModelError, param, UsageError } from '../errors.js';
import { readLabels } from '../io/lines.js';
import { checkInputsAreNotOutputs, outputIdentities, outputTarget } from '../io/targets.js';
import { convertModel, type ConvertOptions } from '../model/convert.js';
import { describeMcGraph, mcGraph, mcGraphOf } from '../model/mc-graph.js';
import { readOnnxBytes, readOnnxFile, type OnnxFile } from '../model/read.js';
import { writeModelFile } from '../model/write.js';

/** What to convert and how; the graph options are convertModel's. */
export interface ConvertFileConfig extends Omit<ConvertOptions, 'metadata' | 'output'> {
  /** The model file to read (left unchanged). */
  input: string;
  /** The class-score output by name (convertModel's `output`), where the model has several. */
  modelOutput?: string;
  /**
   * Write the MC graph for this many passes instead (model/mc-graph.ts): the image input in, the MC
   * mean, std and uncertainties out. The model must be one mc-dropout runs with rows that stay apart.
   */
  mcGraph?: number;
  /** With mcGraph: the random numbers come from a required `seed` input (int64 [1]) instead of the runtime's generator (docs/serving.md). */
  mcGraphSeed?: boolean;
  /** The file to write: a regular file, written whole and renamed into place (its weights beside it, `<output>.data`, when large). */
  output: string;
  /** Preprocessing and labels to record in the written model's metadata (predict reads them). */
  record?: {
    labelsFile?: string;
    mean?: number[];
    std?: number[];
    inputSize?: { height: number; width: number };
    resize?: string;
    interpolation?: string;
    cropFraction?: number;
  };
}

/** What convertFile wrote. */
export interface ConvertFileOutcome {
  /** Each random-mask dropout site: its group's name, the tensor it drops and its rate. */
  converted: { site: string; input: string; rate: number }[];
  /** The tensor dropout was injected before (injectRate), if any. */
  injectedBefore: string | undefined;
  /** The Paddle dropouts made random again (Mul node names). */
  revived: string[];
  /** The external weights file written beside the model, if the weights did not fit inside it. */
  dataFile: string | undefined;
}

/**
 * Converts `input` into an MC-ready model at `output`: Dropout (and injected or revived dropout) as
 * random-mask subgraphs, metadata recorded, and the written file opened once in onnxruntime. The
 * output must not be the input, its labels or its weights. Throws UsageError / ModelError.
 */
export async function convertFile(config: ConvertFileConfig): Promise<ConvertFileOutcome> {
  const { input, output, record = {}, modelOutput, mcGraph: passes, mcGraphSeed, ...options } = config;
  if (mcGraphSeed && passes === undefined) throw new UsageError(`${param('mcGraphSeed')} shapes the MC graph: give ${param('mcGraph')} too`);
  // the output's place and the files it must not be are checked before the conversion's work
  const target = outputTarget(output, 'the converted model');
  if (target.kind !== 'file') throw new UsageError(`The converted model ${output} must be a regular file: it is written whole, then renamed into place`);
  const outputs = outputIdentities([target, outputTarget(`${target.file}.data`, "the converted model's weights")]);
  checkInputsAreNotOutputs(
    [
      { role: 'the model', path: input },
      { role: 'the labels file', path: record.labelsFile },
    ],
    outputs,
  );
  const { model, folder, externalFiles } = await readOnnxFile(input);
  const already = mcGraphOf(model);
  if (already)
    throw new ModelError(
      `${input} is already ${describeMcGraph(already)}: its passes and statistics are inside, so there is nothing to convert. Convert the model it was made from`,
      'E_MC_GRAPH',
    );
  checkInputsAreNotOutputs(
    externalFiles.map((file) => ({ role: "the model's external weights", path: path.join(folder, file) })),
    outputs,
  );
  const metadata: Record<string, string> = {};
  if (record.labelsFile) metadata.labels = JSON.stringify(readLabels(record.labelsFile));
  if (record.mean) metadata.mean = JSON.stringify(record.mean);
  if (record.std) metadata.std = JSON.stringify(record.std);
  if (record.inputSize) metadata.input_size = `${record.inputSize.height}x${record.inputSize.width}`;
  if (record.resize) metadata.resize = record.resize;
  if (record.interpolation) metadata.interpolation = record.interpolation;
  if (record.cropFraction !== undefined) metadata.crop_fraction = String(record.cropFraction);
  if (Object.keys(metadata).length > 0) metadata.format = '1';

  const report = convertModel(model, {
    ...options,
    metadata,
    ...(modelOutput !== undefined && { output: modelOutput }),
    ...(passes !== undefined && { allowUnchanged: true }),
  });
  let finished = report.model;
  if (passes !== undefined) {
    // planned on the converted graph, the one the MC graph ships: injected and revived dropout are
    // sites there, so the trunk that runs once per image ends before them
    const converted = readOnnxBytes(report.model.encode(), { name: input, folder });
    const trunk = await checkMcGraphFits(converted, modelOutput);
    finished = mcGraph(report.model, passes, {
      ...(modelOutput !== undefined && { output: modelOutput }),
      ...(trunk && { cut: trunk }),
      ...(mcGraphSeed && { seedInput: true }),
    });
  }
  // the check loads the written file by absolute path, as a user would from any folder
  const written = await writeModelFile(finished, folder, output, async (file) => {
    try {
      const check = await RuntimeSession.create(path.resolve(file), { provider: 'cpu', deviceId: 0, threads: 1 });
      await check.release();
    } catch (error) {
      throw new ModelError(
        `The converted model does not load in onnxruntime (${describeError(error)}); ${input} was left as it is and ${output} was not written`,
      );
    }
  });
  return { converted: report.converted, injectedBefore: report.injectedBefore, revived: report.revived, dataFile: written.dataFile };
}

/**
 * The MC graph runs T x batch rows in one run: refused for a model mc-dropout would not run that way
 * (rows that see each other after a stochastic site, such as DropBlock's batch statistics, or a
 * fixed batch), and for a model with no stochastic site reaching the class scores.
 */
async function checkMcGraphFits(converted: OnnxFile, modelOutput: string | undefined): Promise<{ name: string; rank: number }[] | undefined> {
  const input = converted.file;
  const model = await McModel.load(converted, { device: 'cpu', threads: 1, ...(modelOutput !== undefined && { output: modelOutput }) });
  try {
    const { plan } = model;
    if (plan.rowsAlone) {
      throw new ModelError(
        `${input}: ${plan.reason}; the MC graph runs every pass of every image as rows of one run, so it cannot express this model`,
        'E_MC_GRAPH',
      );
    }
    // the engine's trunk split: the trunk runs once per image in the graph too (without it, the input is tiled)
    return plan.trunkReuse ? plan.cutTensors.map((name, k) => ({ name, rank: plan.cutShapes[k]!.length + 1 })) : undefined;
  } finally {
    await model.dispose();
  }
}
