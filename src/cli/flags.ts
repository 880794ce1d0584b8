/**
 * The tables from the library's parameters to this CLI's flags, one per command: a parameter name
 * can mean two things in two commands (`output`, `alpha`), so each command says what its messages'
 * names are. Library messages name a parameter in backticks (errors.ts `param`): `dropoutRate`,
 * `dropout: 'force'`; the CLI shows each as the flag a user of that command types. A parameter
 * missing here stays as the library wrote it.
 */

/** Every command of the CLI. */
export type CommandName = 'predict' | 'evaluate' | 'report' | 'calibrate' | 'inspect' | 'convert' | 'merge' | 'select' | 'doctor';

/** Loading a model (LoadOptions). */
const LOAD = {
  device: '--device',
  "device: 'cuda'": '--device cuda',
  "device: 'cpu'": '--device cpu',
  "dropout: 'force'": '--dropout force',
  dropoutRate: '--dropout-rate',
  inputSize: '--size HxW',
  // the model's class-score output, not the rows file (-o)
  output: '--model-output NAME',
  // advice of load-time messages: add dropout with convert
  injectAt: '--inject-at',
  injectRate: '--inject-rate',
};

/** Preprocessing overrides. */
const PREPROCESS = {
  resizeEngine: '--resize-engine',
  views: '--tta',
  std: '--std',
  cropFraction: '--crop-fraction',
  background: '--background',
};

/** What every command that runs the model over images takes. */
const RUN = { ...LOAD, ...PREPROCESS, model: '-m', passes: '--times', labelsFile: '--labels FILE', deterministic: '--deterministic' };

/** A calibration file and its miscoverage (calibrate's --miscoverage, never --alpha, the alpha channel's mode). */
const CALIBRATION = { calibration: '--calibration', alpha: '--miscoverage' };

/** An earlier run's files, named by the predict flags that wrote them. */
const EARLIER_RUN = { savePasses: '--save-passes', "format: 'jsonl', perClass: true": '-f jsonl --per-class' };

const EVALUATE = {
  ...RUN,
  ...CALIBRATION,
  ...EARLIER_RUN,
  truthFile: '--truth',
  from: '--from',
  ood: '--ood',
  masks: '--masks FOLDER',
  ignoreIndex: '--ignore-index',
};

export const COMMAND_FLAGS: Readonly<Record<CommandName, Readonly<Record<string, string>>>> = {
  predict: {
    ...RUN,
    ...CALIBRATION,
    ...EARLIER_RUN,
    resume: '--resume',
    "format: 'jsonl'": '-f jsonl',
    shard: '--shard',
    adaptive: '--min-times/--max-times',
    mapsFolder: '-o FOLDER',
    mapSize: '--map-size',
    threshold: '--uncertain-above',
  },
  evaluate: { ...EVALUATE, json: '--json' },
  report: { ...EVALUATE, json: '--json' },
  calibrate: { ...RUN, ...CALIBRATION, ...EARLIER_RUN, truthFile: '--truth', from: '--from' },
  inspect: LOAD,
  convert: {
    ...LOAD,
    injectRate: '--inject-rate',
    injectAt: '--inject-at',
    liveAll: '--live all',
    setRate: '--set-rate',
    revivePaddle: '--revive-paddle',
    mcGraph: '--mc-graph T',
    mcGraphSeed: '--mc-graph-seed',
    membersFiles: '--members',
    model: 'a model argument',
  },
  merge: { resume: '--resume' },
  select: { ...EARLIER_RUN, by: '--by', count: '--count', perClassQuota: '--per-class-quota' },
  doctor: { device: '--device' },
};

/**
 * Parameters of library calls that no command passes from a flag (the CLI's own values, or the
 * library's inner calls): a message naming one is a bug or a library user's mistake, shown as is.
 */
export const LIBRARY_ONLY: readonly string[] = [
  'bytes',
  'classes',
  'engine',
  'examples',
  'firstPass',
  'images',
  'label',
  'logits',
  'outcomes',
  'positive',
  'requests',
  'planes',
  'probs',
  'quantile',
  'rgb',
  'scores',
  'temperature',
  'values',
  'expectedEntropy',
];

/** A library message as `command` prints it: every parameter its table knows shown as its flag. */
export function withFlags(message: string, command: CommandName): string {
  const table = COMMAND_FLAGS[command];
  return message.replace(/`([^`\n]+)`/g, (whole, name: string) => (Object.hasOwn(table, name) ? table[name]! : whole));
}
