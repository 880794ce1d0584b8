/**
 * A predict run's plan: every file it will write, decided once from the config before any work
 * (a shard's own names applied in one place, the sidecars named by io/sidecars.ts), checked
 * against each other and against every file it reads.
 */
import { param, UsageError } from '../../errors.js';
import { outputSidecars, passesSidecars } from '../../io/sidecars.js';
import { checkDistinct, checkInputsAreNotOutputs, outputIdentities, outputTarget, refuseStdinTwice, type OutputTarget } from '../../io/targets.js';
import { shardOutputPath } from '../shards.js';
import type { PredictRunConfig } from './config.js';

/** The files a predict run writes. */
export interface PredictPlan {
  /** The rows: stdout, a stream, or a file (a shard's own file). */
  output: OutputTarget;
  /** The metadata sidecar given (`meta`), a shard's own; undefined: `<output>.meta.json` beside a file output. */
  meta: OutputTarget | undefined;
  /** The metadata file an earlier run of this output wrote, for resume (the given one, else the default). */
  metaFile: string | undefined;
  /** The passes file (`savePasses`), a regular file. */
  passes: Extract<OutputTarget, { kind: 'file' }> | undefined;
  /** Identities (device:inode) of every output that exists now, with its name: no input may be one. */
  forbidden: ReadonlyMap<string, string>;
}

/** Plans a predict run: refuses settings that cannot go together, outputs that collide and inputs that are outputs, before any work. */
export function planPrediction(config: PredictRunConfig): PredictPlan {
  const { shard } = config;
  if (config.savePasses !== undefined && config.resume)
    throw new UsageError(`Saving the passes cannot resume yet: run without ${param('resume')} (or without ${param('savePasses')})`);
  if (((config.members && config.members.length > 1) || config.views !== undefined) && config.passes === 'auto')
    throw new UsageError(`Adaptive T runs one model on one view: give ${param('passes')} a number for an ensemble or test-time views`);
  if (shard && (config.output === undefined || config.output === '-'))
    throw new UsageError('A shard writes its own file: give an output file (shard I of N of out.csv writes out.shard-000I-of-000N.csv)');
  // a shard writes its own files: the one place its names are made
  const named = (file: string) => (shard ? shardOutputPath(file, shard) : file);
  const output = outputTarget(config.output === undefined ? undefined : named(config.output), 'the output');
  const meta = config.meta !== undefined ? outputTarget(named(config.meta), 'the metadata file') : undefined;
  const passesTarget = config.savePasses !== undefined ? outputTarget(named(config.savePasses), 'the passes file') : undefined;
  if (passesTarget && passesTarget.kind !== 'file')
    throw new UsageError(`The passes file ${config.savePasses} must be a regular file (it is renamed into place when complete)`);
  checkDistinct([output, ...(meta ? [meta] : []), ...(passesTarget ? [passesTarget] : [])]);
  // every file this run may write, against every file it reads, before any work
  const sidecars = output.kind === 'file' ? outputSidecars(output.file) : undefined;
  const defaultMeta = sidecars && !meta ? outputTarget(sidecars.meta, 'the metadata file') : undefined;
  const passesPaths = passesTarget ? outputTarget(passesSidecars(passesTarget.file).paths, "the passes' paths file") : undefined;
  const forbidden = outputIdentities([output, meta ?? defaultMeta, passesTarget, passesPaths]);
  const inputs = [
    ...(config.members ?? [config.model]).map((member) => ({ role: config.members ? 'a member of the ensemble' : 'the model', path: member })),
    { role: 'the labels file', path: config.labelsFile },
    { role: 'the list of inputs', path: config.list?.file },
    ...(config.membersFiles ?? []).map((file) => ({ role: 'the list of members', path: file })),
    { role: 'the calibration', path: config.calibration },
  ];
  refuseStdinTwice(inputs);
  checkInputsAreNotOutputs(inputs, forbidden);
  return {
    output,
    meta,
    metaFile: meta?.kind === 'file' ? meta.file : sidecars?.meta,
    passes: passesTarget,
    forbidden,
  };
}
