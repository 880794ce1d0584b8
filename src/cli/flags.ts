/**
 * The one table from the library's parameters to this CLI's flags. Library messages name a
 * parameter in backticks (errors.ts `param`): `dropoutRate`, `dropout: 'force'`; the CLI shows
 * each as the flag a user types. A parameter missing here stays as the library wrote it.
 */
export const PARAMETER_FLAGS: Readonly<Record<string, string>> = {
  // loading a model (LoadOptions)
  device: '--device',
  "device: 'cuda'": '--device cuda',
  "device: 'cpu'": '--device cpu',
  "dropout: 'force'": '--dropout force',
  dropoutRate: '--dropout-rate',
  inputSize: '--size HxW',
  output: '--model-output NAME',
  // a predict run and its files
  passes: '--times',
  resume: '--resume',
  savePasses: '--save-passes',
  "format: 'jsonl', perClass: true": '-f jsonl --per-class',
  labelsFile: '--labels FILE',
  calibration: '--calibration',
  deterministic: '--deterministic',
  alpha: '--miscoverage',
  // evaluate
  truthFile: '--truth',
  from: '--from',
  json: '--json',
  ood: '--ood',
  // select
  count: '--count',
  perClassQuota: '--per-class-quota',
  // convert
  injectRate: '--inject-rate',
  injectAt: '--inject-at',
  liveAll: '--live all',
  setRate: '--set-rate',
  revivePaddle: '--revive-paddle',
  mcGraph: '--mc-graph T',
  mcGraphSeed: '--mc-graph-seed',
};

/** A library message as the CLI prints it: every parameter the table knows shown as its flag. */
export function withFlags(message: string): string {
  return message.replace(/`([^`\n]+)`/g, (whole, name: string) => PARAMETER_FLAGS[name] ?? whole);
}
