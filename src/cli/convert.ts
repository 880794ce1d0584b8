import { MC_ENSEMBLE_OUTPUTS } from '../model/mc-ensemble-graph.js';
import { convertFile, type ConvertFileOutcome } from '../run/convert.js';

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
  mcGraph?: number;
  mcGraphSeed?: boolean;
  members?: string[];
}

/** `mc-dropout convert IN... -o OUT`: writes an MC-ready model (or an ensemble's MC graph) and checks that onnxruntime loads it. */
export async function runConvert(models: string[], options: ConvertCliOptions): Promise<number> {
  const outcome = await convertFile({
    input: models.length === 1 ? models[0]! : models,
    ...(options.members !== undefined && { membersFiles: options.members }),
    output: options.output,
    liveAll: options.live === 'all',
    seed: options.seed,
    ...(options.modelOutput !== undefined && { modelOutput: options.modelOutput }),
    ...(options.mcGraph !== undefined && { mcGraph: options.mcGraph }),
    ...(options.mcGraphSeed && { mcGraphSeed: true }),
    ...(options.injectRate !== undefined && { injectRate: options.injectRate }),
    ...(options.injectAt !== undefined && { injectAt: options.injectAt }),
    ...(options.revivePaddle && { revivePaddle: true }),
    ...(options.setRate !== undefined && { setRate: options.setRate }),
    record: {
      ...(options.labels !== undefined && { labelsFile: options.labels }),
      ...(options.mean && { mean: options.mean }),
      ...(options.std && { std: options.std }),
      ...(options.size && { inputSize: options.size }),
      ...(options.resize && { resize: options.resize }),
      ...(options.interpolation && { interpolation: options.interpolation }),
      ...(options.cropFraction !== undefined && { cropFraction: options.cropFraction }),
    },
  });
  if (outcome.members) return reportEnsemble(outcome.members, options, outcome.dataFile);
  const input = models[0];
  const sites = outcome.converted.map((c) => `${c.site} on ${c.input} (p=${c.rate})`).join(', ');
  const zero = outcome.converted.filter((c) => c.rate === 0);
  if (zero.length > 0)
    process.stderr.write(
      `mc-dropout: warning: ${zero.length === outcome.converted.length ? 'every' : `${zero.length} of ${outcome.converted.length}`} dropout site${zero.length > 1 ? 's' : ''} of ${options.output} ha${zero.length > 1 ? 've' : 's'} rate 0 (${zero.map((c) => c.site).join(', ')}): ${zero.length === outcome.converted.length ? 'every pass will be identical; give a rate above 0' : 'those sites never drop'}\n`,
    );
  if (options.mcGraph !== undefined) {
    process.stderr.write(
      `mc-dropout: wrote ${options.output}: the MC graph for T=${options.mcGraph} (${mcGraphOutputs(outcome.mcGraphMap)})${options.mcGraphSeed ? '; its random numbers from the input seed (int64 [1])' : ''}${outcome.converted.length > 0 ? `; random-mask dropout at ${sites}` : ''}${outcome.dataFile ? `; weights in ${outcome.dataFile} (keep it beside the model)` : ''}\n`,
    );
    return 0;
  }
  const revived = outcome.revived.length > 0 ? `; Paddle dropout made random again at ${outcome.revived.join(', ')}` : '';
  process.stderr.write(
    `mc-dropout: wrote ${options.output}: ${outcome.converted.length} random-mask dropout site(s): ${sites}${outcome.injectedBefore ? `; injected before ${outcome.injectedBefore}` : ''}${revived}${outcome.dataFile ? `; weights in ${outcome.dataFile} (keep it beside the model)` : ''}\n`,
  );
  if (options.revivePaddle && outcome.revived.length === 0)
    process.stderr.write(`mc-dropout: warning: --revive-paddle found no Paddle dropout (a Mul by a constant in (0, 1) into the classifier) in ${input}\n`);
  return 0;
}

/** The MC graph's outputs as convert reports them: a segmentation model's per pixel, its mean and std in the model's layout. */
function mcGraphOutputs(map: ConvertFileOutcome['mcGraphMap']): string {
  const names = 'label, confidence, entropy, expected_entropy, mutual_information, variation_ratio, margin';
  if (!map) return `outputs mean, std, ${names}`;
  return `per-pixel outputs mean, std [batch, ${map === 'NCHW' ? 'C, H, W' : 'H, W, C'}], ${names} [batch, H, W]`;
}

/** What convert wrote for an ensemble: the graph, its outputs, each member's sites or its one pass; a warning where no member draws. */
function reportEnsemble(members: NonNullable<ConvertFileOutcome['members']>, options: ConvertCliOptions, dataFile: string | undefined): number {
  const each = members.map((m) =>
    m.passes === 1
      ? `${m.file}: no dropout, one pass`
      : `${m.file}: ${m.converted.map((c) => `${c.site} on ${c.input} (p=${c.rate})`).join(', ') || 'its own random ops'}`,
  );
  process.stderr.write(
    `mc-dropout: wrote ${options.output}: the MC graph of an ensemble of ${members.length} members for T=${options.mcGraph} (outputs ${MC_ENSEMBLE_OUTPUTS.join(', ')})${options.mcGraphSeed ? '; its random numbers from the input seed (int64 [1])' : ''}; ${each.join('; ')}${dataFile ? `; weights in ${dataFile} (keep it beside the model)` : ''}\n`,
  );
  for (const m of members) {
    const zero = m.converted.filter((c) => c.rate === 0);
    if (m.passes > 1 && zero.length === m.converted.length && zero.length > 0)
      process.stderr.write(`mc-dropout: warning: every dropout site of ${m.file} has rate 0: its ${options.mcGraph} passes will be identical\n`);
  }
  if (members.every((m) => m.passes === 1))
    process.stderr.write(
      `mc-dropout: warning: no member has dropout: each runs once (a plain deep ensemble), T=${options.mcGraph} changes nothing and within_passes is 0\n`,
    );
  return 0;
}
