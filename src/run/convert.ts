/** `convert` as a library call: a model file in, an MC-ready model file out, checked to load in onnxruntime. */
import path from 'node:path';
import { McModel } from '../engine/mc-model.js';
import { RuntimeSession } from '../engine/runtime.js';
import { describeError, ModelError, param, UsageError, whereThrown } from '../errors.js';
import { readLabels } from '../io/lines.js';
import { readMemberList } from '../io/member-list.js';
import { checkInputsAreNotOutputs, fileIdentity, outputIdentities, outputTarget } from '../io/targets.js';
import { convertModel, randomOpSeed, type ConvertOptions } from '../model/convert.js';
import { anchorExternalData } from '../model/external.js';
import { hasRandomOps, mcEnsembleGraph, type EnsembleMember } from '../model/mc-ensemble-graph.js';
import { mcGraph } from '../model/mc-graph.js';
import { levelModel, siteSeed, type McGraphLevels } from '../model/mc-graph-levels.js';
import type { PrefixLevels } from '../engine/prefix-sharing.js';
import type { DrawnSite } from '../engine/draws.js';
import type { OnnxGraph } from '../model/graph.js';
import { describeMcGraph, mcGraphOf } from '../model/mc-graph-found.js';
import { readOnnxBytes, readOnnxFile, type OnnxFile } from '../model/read.js';
import { writeModelFile } from '../model/write.js';

/** What to convert and how; the graph options are convertModel's. */
export interface ConvertFileConfig extends Omit<ConvertOptions, 'metadata' | 'output'> {
  /**
   * The model file to read (left unchanged). With mcGraph, several files (here and in `membersFiles`)
   * are the members of an ensemble, written as one graph (model/mc-ensemble-graph.ts); the
   * conversion options and `record` apply to each member.
   */
  input: string | readonly string[];
  /** More members, one model path per line (`#` starts a comment line; relative to the list's own folder; `-` reads stdin), after `input`'s. */
  membersFiles?: readonly string[];
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
  /** An ensemble's members, in the graph's order: each file, its passes in the graph (1 without dropout) and its sites. */
  members?: { file: string; passes: number; converted: ConvertFileOutcome['converted']; revived: string[] }[];
  /** Each random-mask dropout site: its group's name, the tensor it drops and its rate. */
  converted: { site: string; input: string; rate: number }[];
  /** The tensor dropout was injected before (injectRate), if any. */
  injectedBefore: string | undefined;
  /** The Paddle dropouts made random again (Mul node names). */
  revived: string[];
  /** The external weights file written beside the model, if the weights did not fit inside it. */
  dataFile: string | undefined;
  /** With mcGraph, for a segmentation model: the layout of the graph's mean and std maps (the model's). */
  mcGraphMap?: 'NCHW' | 'NHWC';
}

/**
 * Converts `input` into an MC-ready model at `output`: Dropout (and injected or revived dropout) as
 * random-mask subgraphs, metadata recorded, and the written file opened once in onnxruntime. The
 * output must not be the input, its labels or its weights. Throws UsageError / ModelError.
 */
export async function convertFile(config: ConvertFileConfig): Promise<ConvertFileOutcome> {
  const { input: given, membersFiles = [], output, record = {}, modelOutput, mcGraph: passes, mcGraphSeed, ...options } = config;
  if (mcGraphSeed && passes === undefined) throw new UsageError(`${param('mcGraphSeed')} shapes the MC graph: give ${param('mcGraph')} too`);
  // the output's place and the files it must not be are checked before the conversion's work
  const target = outputTarget(output, 'the converted model');
  if (target.kind !== 'file') throw new UsageError(`The converted model ${output} must be a regular file: it is written whole, then renamed into place`);
  const outputs = outputIdentities([target, outputTarget(`${target.file}.data`, "the converted model's weights")]);
  checkInputsAreNotOutputs(
    membersFiles.map((file) => ({ role: 'the members file', path: file })),
    outputs,
  );
  const models = [...(typeof given === 'string' ? [given] : given), ...membersFiles.flatMap(readMemberList)];
  if (models.length === 0)
    throw new UsageError(`No model to convert: name one${membersFiles.length > 0 ? `; the members file ${membersFiles.join(', ')} lists none` : ''}`);
  if (models.length > 1) {
    if (passes === undefined)
      throw new UsageError(
        `${models.length} models make an ensemble, which only the MC graph holds: give ${param('mcGraph')} to write them as one graph, or convert each model alone`,
      );
    return convertEnsemble(models, outputs, { ...config, mcGraph: passes });
  }
  const input = models[0]!;
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
  const metadata = recordedMetadata(record);

  const report = convertModel(model, {
    ...options,
    metadata,
    ...(modelOutput !== undefined && { output: modelOutput }),
    ...(passes !== undefined && { allowUnchanged: true }),
  });
  let finished = report.model;
  let mcGraphMap: ConvertFileOutcome['mcGraphMap'];
  if (passes !== undefined) {
    // planned on the converted graph, the one the MC graph ships: injected and revived dropout are
    // sites there, so the trunk that runs once per image ends before them
    const converted = readOnnxBytes(report.model.encode(), { name: input, folder });
    const { cut, levels } = await checkMcGraphFits(converted, modelOutput, options.seed ?? 0);
    // stochastic depth: the engine's level graph, its inputs computed in the graph (mc-graph-levels.ts); seeded random numbers tile instead
    const leveled = levels && !mcGraphSeed ? levelModel(levels, report.model) : undefined;
    finished = leveled
      ? mcGraph(leveled, passes, { ...(modelOutput !== undefined && { output: modelOutput }), levels: levels! })
      : mcGraph(report.model, passes, {
          ...(modelOutput !== undefined && { output: modelOutput }),
          ...(cut && { cut }),
          ...(mcGraphSeed && { seedInput: true }),
        });
    mcGraphMap = mcGraphOf(finished)?.map;
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
  return {
    converted: report.converted,
    injectedBefore: report.injectedBefore,
    revived: report.revived,
    dataFile: written.dataFile,
    ...(mcGraphMap && { mcGraphMap }),
  };
}

/** The mc_dropout.* metadata `record` asks for (keys without the prefix). */
function recordedMetadata(record: NonNullable<ConvertFileConfig['record']>): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (record.labelsFile) metadata.labels = JSON.stringify(readLabels(record.labelsFile));
  if (record.mean) metadata.mean = JSON.stringify(record.mean);
  if (record.std) metadata.std = JSON.stringify(record.std);
  if (record.inputSize) metadata.input_size = `${record.inputSize.height}x${record.inputSize.width}`;
  if (record.resize) metadata.resize = record.resize;
  if (record.interpolation) metadata.interpolation = record.interpolation;
  if (record.cropFraction !== undefined) metadata.crop_fraction = String(record.cropFraction);
  if (Object.keys(metadata).length > 0) metadata.format = '1';
  return metadata;
}

/**
 * convertFile for several models: each converted as one would be (the same options and `record`),
 * planned as its own MC graph would be (its trunk split, or none without random ops), then the
 * ensemble's graph written and opened once in onnxruntime. The same model twice (one file under two
 * names, or two copies) is refused: it would be T more passes of one member, not an ensemble.
 */
async function convertEnsemble(
  models: readonly string[],
  outputs: ReadonlyMap<string, string>,
  config: ConvertFileConfig & { mcGraph: number },
): Promise<ConvertFileOutcome> {
  const { output, record = {}, modelOutput, mcGraph: passes, mcGraphSeed, membersFiles: _, input: __, ...options } = config;
  checkInputsAreNotOutputs(
    [...models.map((file) => ({ role: 'a member of the ensemble', path: file })), { role: 'the labels file', path: record.labelsFile }],
    outputs,
  );
  const metadata = recordedMetadata(record);
  const members: (EnsembleMember & { passes: number; report: ReturnType<typeof convertModel> })[] = [];
  const seen = new Map<string, string>();
  for (const file of models) {
    const { model, folder, externalFiles, sha256 } = await readOnnxFile(file);
    const same = seen.get(fileIdentity(file) ?? '') ?? seen.get(sha256);
    if (same !== undefined)
      throw new UsageError(
        `${same} and ${file} are the same model (sha256 ${sha256.slice(0, 12)}...): an ensemble's members must differ. Give each model once (its passes already average its dropout)`,
      );
    seen.set(fileIdentity(file) ?? file, file);
    seen.set(sha256, file);
    const already = mcGraphOf(model);
    if (already)
      throw new ModelError(
        `${file} is already ${describeMcGraph(already)}: its passes and statistics are inside, so it cannot be a member. Give the model it was made from`,
        'E_MC_GRAPH',
      );
    checkInputsAreNotOutputs(
      externalFiles.map((name) => ({ role: `the external weights of ${file}`, path: path.join(folder, name) })),
      outputs,
    );
    const report = whereThrown(file, () =>
      convertModel(model, { ...options, metadata, ...(modelOutput !== undefined && { output: modelOutput }), allowUnchanged: true }),
    );
    // a member with random ops is planned as its own MC graph is; one without runs once, whole
    const stochastic = hasRandomOps(report.model);
    const cut = stochastic ? (await checkMcGraphFits(readOnnxBytes(report.model.encode(), { name: file, folder }), modelOutput)).cut : undefined;
    anchorExternalData(report.model, folder);
    members.push({ file, sha256, graph: report.model, ...(cut && { cut }), passes: stochastic ? passes : 1, report });
  }
  const finished = mcEnsembleGraph(members, passes, {
    ...(modelOutput !== undefined && { output: modelOutput }),
    ...(mcGraphSeed && { seedInput: true }),
    seed: options.seed ?? 0,
  });
  const written = await writeModelFile(finished, path.dirname(path.resolve(models[0]!)), output, async (file) => {
    try {
      const check = await RuntimeSession.create(path.resolve(file), { provider: 'cpu', deviceId: 0, threads: 1 });
      await check.release();
    } catch (error) {
      throw new ModelError(`The ensemble's graph does not load in onnxruntime (${describeError(error)}); ${output} was not written`);
    }
  });
  return {
    converted: members.flatMap((m) => m.report.converted),
    injectedBefore: undefined,
    revived: members.flatMap((m) => m.report.revived),
    dataFile: written.dataFile,
    members: members.map((m) => ({ file: m.file, passes: m.passes, converted: m.report.converted, revived: m.report.revived })),
  };
}

/**
 * The MC graph runs T x batch rows in one run: refused for a model mc-dropout would not run that way
 * (rows that see each other after a stochastic site, such as DropBlock's batch statistics, or a
 * fixed batch), and for a model with no stochastic site reaching the class scores.
 */
async function checkMcGraphFits(
  converted: OnnxFile,
  modelOutput: string | undefined,
  /** convert's --seed; given, the engine's prefix levels come back too (an ensemble member tiles: none asked) */
  seed?: number,
): Promise<{ cut?: { name: string; rank: number }[]; levels?: McGraphLevels }> {
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
    const cut = plan.trunkReuse ? plan.cutTensors.map((name, k) => ({ name, rank: plan.cutShapes[k]!.length + 1 })) : undefined;
    return {
      ...(cut && { cut }),
      ...(seed !== undefined &&
        model.prefixLevels &&
        !model.info.map && { levels: levelsOf(model.prefixLevels, model.info.drawnSites, converted.model, seed) }),
    };
  } finally {
    await model.dispose();
  }
}

/** Site indices for the seeds of the level graph's own random ops, apart from convert's sites' (randomOpSeed(seed, k)). */
const LEVEL_SEED_OFFSET = 2 ** 20;

/** The engine's level graph as the MC graph takes it: each site's draws, decision and (convert --seed) its random op's seed. */
function levelsOf(prefix: PrefixLevels, sites: readonly DrawnSite[], converted: OnnxGraph, convertSeed: number): McGraphLevels {
  return {
    graph: prefix.plan.model,
    gathers: prefix.plan.gathers,
    outputLevel: prefix.plan.outputLevel,
    sites: sites.map((s, k) => {
      // a random op the exporter wrote has no seed of its own: one hashed from convert's --seed, as convert seeds its masks
      // (unseeded, onnxruntime seeds each op from nearby values: dependent first draws, and fresh sessions differ)
      const seed = siteSeed(converted, s.site.nodeIndices) ?? randomOpSeed(convertSeed, LEVEL_SEED_OFFSET + k);
      const decision = prefix.decisions[k];
      return { input: s.input, draw: s.draw, rowShape: s.rowShape, ...(decision && { decision }), ...(seed !== undefined && { seed }) };
    }),
  };
}
