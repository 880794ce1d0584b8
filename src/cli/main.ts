import { Command, CommanderError, Option } from 'commander';
import { RAPS_DEFAULTS } from '../conformal/sets.js';
import { describeError, InternalError, McDropoutError, OutputError } from '../errors.js';
import { writeFailureReason } from '../io/durable.js';
import { BUNDLED_MODEL, packageVersion } from '../paths.js';
import { DEFAULT_CROP_FRACTION, DEFAULT_DECODE_PIXEL_BUDGET, DEFAULT_PIXEL_LIMIT } from '../preprocess/spec.js';
import { ACQUISITIONS } from '../select/rank.js';
import { DEFAULT_ADAPTIVE_RULE } from '../stats/adaptive.js';
import { UNCERTAINTY_ALIASES } from '../stats/uncertainty.js';
import { AliasOption } from './alias-option.js';
import { choice, collect, color, fraction, injection, integer, seed, size, timesOrAuto, triple } from './parsers.js';
// each command's module loads when that command runs: --help and --version load none of them
import type { CalibrateCliOptions } from './calibrate.js';
import type { ConvertCliOptions } from './convert.js';
import type { SelectCliOptions } from './select.js';
import type { PredictCliOptions } from './predict.js';
import type { EvaluateCliOptions } from './evaluate.js';
import { EXIT, exitCodeHelp } from './exit-codes.js';
import { withFlags, type CommandName } from './flags.js';

const version = packageVersion();

const EXIT_CODES = exitCodeHelp();

/** The options of every command that runs a model over images: model, device, inputs, preprocessing. */
function withRunOptions(command: Command): Command {
  return command
    .option(
      '-m, --model <file>',
      'ONNX classifier with live dropout (default: the bundled Fashion-MNIST model); repeat for a deep ensemble, each member on every image (docs/ensembles.md)',
      collect,
    )
    .option(
      '--members <file>',
      'the members of an ensemble, one ONNX path per line (relative to the folder of the list; repeatable; with or instead of -m)',
      collect,
    )
    .option(
      '--tta <views>',
      'test-time augmentation: views every model also sees, comma-separated: flip, five-crop, ten-crop, scale:S (repeatable; docs/ensembles.md)',
      collect,
    )
    .option('-b, --batch-size <n>', 'images per inference batch (each runs T times)', integer(1, 100000), 16)
    .addOption(new Option('--device <device>', 'auto | cpu | cuda | cuda:N').default('auto').env('MC_DROPOUT_DEVICE'))
    .option('--seed <n>', 'seed of the dropout masks (default: fresh, printed in the summary)', seed)
    .option('--labels <file>', "class labels, one per line (default: the model's metadata)")
    .option('-q, --quiet', 'no progress, no warnings and no summary on stderr (errors still print)')
    .option('--no-progress', 'no progress bar')
    .addOption(
      new Option('--dropout <mode>', 'auto: live Dropout nodes only; force: make inert ones live too')
        .argParser(choice(['auto', 'force'] as const))
        .default('auto'),
    )
    .option('--dropout-rate <p>', 'drop probability for every dropout site', fraction(false, 1, true))
    .option('--model-output <name>', 'the model output that holds the class scores (default: the [N, classes] output the dropout reaches)')
    .option('--threads <n>', 'CPU intra-op threads (0: onnxruntime decides)', integer(0, 1024), 0)
    .option(
      '--max-rows <n>',
      "most rows (image x pass) per session run; bounds activation memory (default: from a 512 MiB activation budget and the model's activation sizes)",
      integer(1),
    )
    .addOption(
      new Option('--trunk-reuse <mode>', 'auto: run the deterministic part before the first dropout once per image; off: whole graph per pass')
        .argParser(choice(['auto', 'off'] as const))
        .default('auto'),
    )
    .option(
      '--no-cache',
      "probe the model afresh and keep nothing (default: keep what a load learns of a model in the user's cache folder; MC_DROPOUT_CACHE=off or a folder)",
    )
    .option('--list <file>', 'read input paths from FILE, one per line (- for stdin; # starts a comment line; relative to the working directory)')
    .option('--list0 <file>', 'read NUL-separated input paths from FILE (- for stdin), as find -print0 writes them')
    .option('--size <HxW>', 'input size for models whose height/width are dynamic', size)
    .addOption(new Option('--resize <mode>', 'stretch | center-crop | pad').argParser(choice(['stretch', 'center-crop', 'pad'] as const)))
    .addOption(
      new Option('--interpolation <kernel>', 'bilinear | bicubic | nearest | lanczos3').argParser(
        choice(['bilinear', 'bicubic', 'nearest', 'lanczos3'] as const),
      ),
    )
    .addOption(
      new Option(
        '--color-profile <mode>',
        'an embedded ICC profile: ignore reads the stored numbers as PIL (torchvision, timm) does; convert converts to sRGB first',
      )
        .argParser(choice(['ignore', 'convert'] as const))
        .default('ignore'),
    )
    .addOption(new AliasOption('--colour-profile <mode>', 'colorProfile').argParser(choice(['ignore', 'convert'] as const)))
    .addOption(
      new Option('--resize-engine <engine>', 'exact: PIL-exact resampling of the full image; fast: libvips with JPEG shrink-on-load (large photos)')
        .argParser(choice(['exact', 'fast'] as const))
        .default('exact'),
    )
    .option('--crop-fraction <f>', `center-crop: crop fraction (default ${DEFAULT_CROP_FRACTION})`, fraction(true, 1, false))
    .option('--mean <r,g,b>', 'normalization mean (default: model metadata, else ImageNet)', triple)
    .option('--std <r,g,b>', 'normalization std (default: model metadata, else ImageNet)', triple)
    .addOption(new Option('--channel-order <order>', 'RGB | BGR').argParser(choice(['RGB', 'BGR'] as const)))
    .addOption(
      new Option('--alpha <mode>', 'remove: drop alpha; flatten: composite on --background')
        .argParser(choice(['remove', 'flatten'] as const))
        .default('remove'),
    )
    .option('--background <color>', 'color for --alpha flatten and --resize pad (#rrggbb or r,g,b)', color)
    .option('--max-pixels <n>', 'refuse images with more pixels (decompression bombs)', integer(1), DEFAULT_PIXEL_LIMIT)
    .option('--decode-concurrency <n>', 'images decoded at once', integer(1, 64), 16)
    .option(
      '--decode-megapixels <n>',
      'pixels decoded at once, in millions: bounds memory on large photos (an image above it decodes alone)',
      integer(1, 100000),
      DEFAULT_DECODE_PIXEL_BUDGET / 1_000_000,
    );
}

/** The options evaluate and report share: the run's, T, the true classes, an earlier file, a calibration, OOD images. */
function evaluateOptions(command: Command): Command {
  return withRunOptions(command)
    .argument('[paths...]', 'image files or folders (walked recursively); one folder per class gives the true classes')
    .option(
      '-t, --times <T>',
      'stochastic forward passes per image (metrics are also reported with the first 1, 2, 5, 10, ... of them)',
      integer(1, 100000),
      10,
    )
    .option(
      '--truth <file>',
      "true classes as a CSV of path,label (label: a class name or index; paths relative to the CSV's folder or the working directory); default: the folder of each image below the input folder (torchvision ImageFolder)",
    )
    .option(
      '--masks <folder>',
      'segmentation: the truth masks, class-index PNGs (8-bit grey or indexed) at the same paths below FOLDER as the images below their input folder, extension .png',
    )
    .option('--ignore-index <n>', "segmentation: the masks' value of pixels left out (VOC and Cityscapes: 255)", integer(0, 65535))
    .option(
      '--from <file>',
      'evaluate an earlier run instead of running the model: a --save-passes .npy (with its .paths.json), a predict output written with -f jsonl --per-class, or (report) an evaluate --json file',
    )
    .option(
      '--calibration <file>',
      'a calibration calibrate wrote for this model: the calibrated metrics beside the rest, and the coverage and size of its prediction sets (overall, by set size, by class); use images it was not fitted on',
    )
    .option(
      '--ood <path>',
      "images from outside the model's classes (a file or folder; repeatable): AUROC, AUPR and FPR95 of every uncertainty score at flagging them",
      collect,
    );
}

/** `predict`: T passes per image, one row each. */
function definePredict(program: Command, setExitCode: (code: number) => void): void {
  withRunOptions(program.command('predict'))
    .description('run T stochastic passes per image and write label, confidence and uncertainty per image')
    .argument('[paths...]', 'image files or folders (walked recursively)')
    .option('-t, --times <T>', 'stochastic forward passes per image, or auto: per image, until its estimates settle (see --tolerance)', timesOrAuto, 10)
    .option(
      '--min-times <n>',
      'with --times auto: passes every image gets, and the size of each further round',
      integer(2, 100000),
      DEFAULT_ADAPTIVE_RULE.minPasses,
    )
    .option('--max-times <n>', 'with --times auto: most passes per image', integer(2, 100000), DEFAULT_ADAPTIVE_RULE.maxPasses)
    .option(
      '--tolerance <se>',
      'with --times auto: largest standard error of each mean probability and of the predictive entropy',
      fraction(true, 1, false),
      DEFAULT_ADAPTIVE_RULE.tolerance,
    )
    .option('-k, --topk <k>', 'top-k labels and probabilities per row', integer(0, 1000), 3)
    .option(
      '-o, --output <file>',
      'write rows to FILE (default stdout); a regular file is completed atomically, a device or FIFO written straight through. A segmentation model: the maps folder (rows in FOLDER/scores.csv)',
    )
    .addOption(new Option('-f, --format <format>', 'csv | jsonl').argParser(choice(['csv', 'jsonl'] as const)).default('csv'))
    .option('--meta <file>', 'run metadata JSON (default: <output>.meta.json)')
    .addOption(
      new Option(
        '--map-size <size>',
        "segmentation: maps at the model's output size, or at each image's own (probabilities resampled bilinearly before the argmax)",
      )
        .argParser(choice(['model', 'original'] as const))
        .default('model'),
    )
    .option('--overlay', 'segmentation: also write STEM.overlay.png, the image with the label colors blended in')
    .option(
      '--uncertain-above <h>',
      "segmentation: a pixel counts in the row's uncertain_share when its entropy / ln(classes) exceeds h",
      fraction(false, 1, false),
      0.5,
    )
    .option(
      '--save-passes <file.npy>',
      "every pass's probabilities as a NumPy .npy (images x T x classes, float32; NaN for error rows) with FILE.paths.json beside it",
    )
    .option('--resume', 'skip images already in --output and append the rest')
    .option(
      '--spreadsheet-safe',
      'CSV: start text cells (path, labels, error) that a spreadsheet would run as a formula (=, +, -, @) with an apostrophe; default: the exact bytes',
    )
    .option('--per-class', "jsonl: add the mean and std of every class; segmentation: also STEM.probs.npy, every class's mean probability map")
    .option('--deterministic', 'dropout off, one pass (the eval-mode output, for comparison)')
    .option('--allow-empty', 'no input images is not an error: write only the header and exit 0')
    .option(
      '--calibration <file>',
      'apply a calibration that calibrate wrote for this model and preprocessing: tempered probabilities (uncertainty columns from them; uncalibrated_confidence beside) and the prediction set (set, set_size)',
    )
    .option(
      '--shard <I/N|auto>',
      'run only shard I of N of the input list (contiguous blocks), writing OUTPUT.shard-000I-of-000N.EXT; auto: from Slurm, Kubernetes, AWS Batch or Google Cloud Batch',
    )
    .option(
      '--shard-count <n>',
      'number of shards for --shard auto where the engine does not say (Kubernetes, AWS Batch); also MC_DROPOUT_SHARD_COUNT',
      integer(1, 1_000_000),
    )
    .addHelpText(
      'after',
      `
Examples:
  mc-dropout predict ./images --times 10                 CSV on stdout
  mc-dropout predict ./images -t 30 --seed 7 -o out.csv  reproducible, written atomically
  mc-dropout predict ./images -o out.csv --resume        finish an interrupted run
  mc-dropout predict --list files.txt -f jsonl --per-class
${EXIT_CODES}`,
    )
    .action(async (paths: string[], options: PredictCliOptions) => {
      const { runPredict } = await import('./predict.js');
      setExitCode(await runPredict(paths, options, version));
    });
}

/** `calibrate`: the temperature and the conformal thresholds, fitted on labeled images. */
function defineCalibrate(program: Command, setExitCode: (code: number) => void): void {
  withRunOptions(program.command('calibrate'))
    .description('fit temperature scaling and split-conformal prediction sets on labeled images; writes a calibration JSON that predict --calibration applies')
    .argument('[paths...]', 'labeled image files or folders: one folder per class, or --truth')
    .option('-t, --times <T>', 'stochastic forward passes per image: the T predict will run with', integer(1, 100000), 10)
    .option('--truth <file>', 'true classes as a CSV of path,label (as evaluate reads it); default: the folder of each image below the input folder')
    .requiredOption('-o, --output <file>', 'the calibration JSON to write (- for stdout)')
    .option('--miscoverage <alpha>', 'sets hold the true class with probability at least 1 - alpha', fraction(true, 1, true), 0.1)
    .addOption(
      new Option('--score <score>', 'lac: 1 - p of the class; aps: cumulative mass to the class; raps: aps with a penalty on long sets')
        .argParser(choice(['lac', 'aps', 'raps'] as const))
        .default('aps'),
    )
    .option('--lambda <l>', `raps: penalty per rank beyond --k-reg (default ${RAPS_DEFAULTS.lambda})`, fraction(false, 100, true))
    .option('--k-reg <k>', `raps: ranks without penalty (default ${RAPS_DEFAULTS.kReg})`, integer(0, 100000))
    .option(
      '--no-randomized',
      'aps and raps: count the whole mass of each class instead of a seeded uniform share (no set is random; a class surer than the threshold alone leaves its set empty)',
    )
    .option('--class-conditional', 'one threshold per class (Mondrian): coverage 1 - alpha for every class, not only on average')
    .option('--set-seed <n>', 'seed of the aps/raps uniforms, one per image from (seed, path) (default: the mask seed)', seed)
    .option(
      '--from <file.npy>',
      'fit on an earlier fixed-T run instead of running the model: the .npy predict --save-passes wrote (with its .paths.json and .run.json)',
    )
    .addHelpText(
      'after',
      `
Examples:
  mc-dropout calibrate val/ -m model.onnx -t 30 --seed 1 -o calibration.json     val/<class>/*.jpg
  mc-dropout predict images/ -m model.onnx -t 30 --calibration calibration.json -o out.csv
${EXIT_CODES}`,
    )
    .action(async (paths: string[], options: CalibrateCliOptions) => {
      const { runCalibrate } = await import('./calibrate.js');
      setExitCode(await runCalibrate(paths, options, version));
    });
}

/** `evaluate`: the metrics on labeled images. */
function defineEvaluate(program: Command, setExitCode: (code: number) => void): void {
  evaluateOptions(program.command('evaluate'))
    .description(
      'is the uncertainty worth it: accuracy, NLL, Brier, ECE, MCE, AURC, selective accuracy and the AUROC of each uncertainty score, deterministic beside MC, and against T',
    )
    .option('--json <file>', 'every number, per image records and the run metadata as JSON (- for stdout instead of the table)')
    .option('--plots <folder>', 'write the figures there as SVG and PNG: reliability, risk-coverage, metrics-vs-t, uncertainty, confusion')
    .addHelpText(
      'after',
      `
Examples:
  mc-dropout evaluate test/ -m model.onnx -t 30 --seed 1                   test/<class>/*.jpg
  mc-dropout evaluate images/ --truth labels.csv --json eval.json --plots plots/
  mc-dropout evaluate --from run.npy --truth labels.csv                    from predict --save-passes run.npy
${EXIT_CODES}`,
    )
    .action(async (paths: string[], options: EvaluateCliOptions, command: Command) => {
      const { runEvaluate } = await import('./evaluate.js');
      setExitCode(await runEvaluate(paths, { ...options, modelGiven: command.getOptionValueSource('model') === 'cli' }, version));
    });
}

/** `report`: the HTML page. */
function defineReport(program: Command, setExitCode: (code: number) => void): void {
  evaluateOptions(program.command('report'))
    .description(
      'one self-contained HTML page (opens offline from disk): the metrics, the figures, the run metadata and galleries of the most uncertain and the confidently wrong images',
    )
    .requiredOption('-o, --output <file.html>', 'where to write the page')
    .addHelpText(
      'after',
      `
Examples:
  mc-dropout report test/ -m model.onnx -t 30 -o report.html
  mc-dropout report --from eval.json -o report.html                       from evaluate --json eval.json
  mc-dropout report unlabeled/ -o report.html                            no true classes: galleries only
${EXIT_CODES}`,
    )
    .action(async (paths: string[], options: EvaluateCliOptions, command: Command) => {
      const { runReport } = await import('./evaluate.js');
      setExitCode(await runReport(paths, { ...options, modelGiven: command.getOptionValueSource('model') === 'cli' }, version));
    });
}

/** `inspect`: what a model holds and whether it is MC-ready. */
function defineInspect(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('inspect')
    .description('show inputs, outputs, stochastic sites, trunk reuse and export mistakes of a model; exit 0 when it is MC-ready, else 1')
    .argument('[model]', 'ONNX model (default: the bundled Fashion-MNIST model)')
    .option('--json', 'machine-readable report')
    .option('--model-output <name>', 'the output that holds the class scores (default: the [N, classes] output the dropout reaches)')
    .action(async (model: string | undefined, options: { json?: boolean; modelOutput?: string }) => {
      const { runInspect } = await import('./inspect.js');
      setExitCode(await runInspect(model ?? BUNDLED_MODEL, options));
    });
}

/** `convert`: an MC-ready copy of a model. */
function defineConvert(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('convert')
    .description('write an MC-ready copy of a model: dropout as a random-mask subgraph that stays stochastic in any onnxruntime')
    .argument('[models...]', 'ONNX model to convert; with --mc-graph, several: the members of an ensemble, written as one graph')
    .requiredOption('-o, --output <file>', 'where to write the converted model')
    .option('--model-output <name>', 'with --inject-rate: the output whose classifier gets the dropout (default: the class-score output)')
    .option('--inject-rate <p>', 'insert dropout with rate p before the final classifier layer (last Gemm/MatMul, else last Conv)', fraction(false, 1, true))
    .option(
      '--inject-at <tensor:p>',
      'insert dropout with rate p at a named tensor: every node that reads it reads it dropped (repeatable; inspect lists candidates)',
      injection,
    )
    .option('--revive-paddle', "make Paddle's downgrade_in_infer dropout random again (the Mul by 1 - p that paddle2onnx writes; inspect lists them)")
    .addOption(
      new Option('--live <which>', 'auto: convert live Dropout nodes; all: inert ones too').argParser(choice(['auto', 'all'] as const)).default('auto'),
    )
    .option('--set-rate <p>', 'rate for every dropout site', fraction(false, 1, true))
    .option(
      '--mc-graph <T>',
      'write MC dropout as one graph instead: T passes of every image in one run, the MC mean, std and uncertainties as outputs; several models: an ensemble in one graph (docs/serving.md)',
      integer(2, 100000),
    )
    .option(
      '--members <file>',
      'with --mc-graph: more members of the ensemble, one model path per line (# starts a comment; relative to the folder of the list; - for stdin; repeatable)',
      collect,
    )
    .option(
      '--mc-graph-seed',
      'with --mc-graph: the random numbers come from a required int64 input `seed` (same seed, same outputs), not the runtime generator (docs/serving.md)',
    )
    .option('--seed <n>', "base seed of the RandomUniformLike ops' seed attributes (hashed with the site's index)", integer(0, 2 ** 31), 0)
    .option('--labels <file>', 'embed class labels (one per line)')
    .option('--mean <r,g,b>', 'embed the normalization mean', triple)
    .option('--std <r,g,b>', 'embed the normalization std', triple)
    .option('--size <HxW>', 'embed the input size', size)
    .addOption(new Option('--resize <mode>', 'embed the resize mode').argParser(choice(['stretch', 'center-crop', 'pad'] as const)))
    .addOption(new Option('--interpolation <kernel>', 'embed the interpolation').argParser(choice(['bilinear', 'bicubic', 'nearest', 'lanczos3'] as const)))
    .option('--crop-fraction <f>', 'embed the center-crop fraction', fraction(true, 1, false))
    .addHelpText(
      'after',
      `
Examples:
  mc-dropout convert resnet18.onnx --inject-rate 0.1 -o resnet18-mc.onnx
  mc-dropout convert tf-model.onnx --inject-at dense/BiasAdd:0:0.2 -o mc.onnx
  mc-dropout convert paddle-model.onnx --revive-paddle -o mc.onnx
  mc-dropout convert eval-export.onnx --live all -o mc.onnx --labels labels.txt --size 224x224
  mc-dropout convert a.onnx b.onnx c.onnx --mc-graph 30 -o ensemble.onnx      an ensemble in one graph (docs/serving.md)`,
    )
    .action(async (models: string[], options: ConvertCliOptions) => {
      const { runConvert } = await import('./convert.js');
      setExitCode(await runConvert(models, options));
    });
}

/** `merge`: a sharded job's outputs joined. */
function defineMerge(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('merge')
    .description(
      'join the shard outputs of a sharded predict job into the file one machine would have written; refuses a missing, incomplete, duplicated or mismatched shard',
    )
    .requiredOption('-o, --output <file>', 'the --output the shards were run with (finds OUTPUT.shard-*-of-*.EXT beside it)')
    .option('--meta <file>', 'merged run metadata (default: <output>.meta.json)')
    .addHelpText(
      'after',
      `
Example (Slurm):
  sbatch --array=0-15 --wrap 'mc-dropout predict images/ --seed 7 --shard auto -o out.csv --resume'
  sbatch --dependency=afterok:<job> --wrap 'mc-dropout merge -o out.csv'`,
    )
    .action(async (options: { output: string; meta?: string }) => {
      const { runMerge } = await import('./merge.js');
      setExitCode(runMerge(options, version));
    });
}

/** `select`: the images to label next. */
function defineSelect(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('select')
    .description('the images to label next, from a predict output (CSV or JSONL): the top N by an acquisition score')
    .argument('<run>', 'a predict output file (- for stdin), or its --save-passes .npy')
    .addOption(
      new Option(
        '--by <score>',
        `${[...ACQUISITIONS, 'batchbald'].join(' | ')} (the uncertainty columns' names; margin: smallest top-1/top-2 gap first; batchbald: from a --save-passes .npy, a jointly informative batch); earlier names ${Object.entries(
          UNCERTAINTY_ALIASES,
        )
          .map(([alias, score]) => `${alias} (${score})`)
          .join(', ')} still work`,
      )
        .argParser(choice([...ACQUISITIONS, 'batchbald', ...(Object.keys(UNCERTAINTY_ALIASES) as (keyof typeof UNCERTAINTY_ALIASES)[])] as const))
        .default('mutual_information'),
    )
    .option('-n, --count <n>', 'how many images', integer(1), 100)
    .option('--seed <n>', "seed of --by random and of batchbald's sampled assignments", seed, 0)
    .option('--per-class-quota', 'spread the picks over the predicted labels: each label ranked alone, labels take turns')
    .option(
      '--candidates <n>',
      'batchbald: how many of the images with the highest BALD it considers (each pick costs candidates x T x up to 8192 joint assignments x classes)',
      integer(1),
      2000,
    )
    .addOption(
      new Option('-f, --format <format>', 'lines: one path per line; nul: NUL-separated (xargs -0); csv: rank, path, label, score')
        .argParser(choice(['lines', 'nul', 'csv'] as const))
        .default('lines'),
    )
    .addHelpText(
      'after',
      `
Examples:
  mc-dropout predict unlabeled/ -t 30 -o run.csv && mc-dropout select run.csv --by mutual_information -n 500 > to-label.txt
  mc-dropout select run.jsonl --by margin -n 100 --per-class-quota -f nul | xargs -0 cp -t review/
  mc-dropout predict pool/ -t 20 -o run.csv --save-passes run.npy && mc-dropout select run.npy --by batchbald -n 50`,
    )
    .action(async (run: string, options: SelectCliOptions) => {
      const { runSelect } = await import('./select.js');
      setExitCode(runSelect(run, options));
    });
}

/** `doctor`: is the GPU usable. */
function defineDoctor(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('doctor')
    .description(
      "check onnxruntime-node's CUDA provider, CUDA/cuDNN libraries and the GPU, and huge pages for large photos; exit 0 when --device auto would use the GPU, else 1",
    )
    .option('--json', 'machine-readable report')
    .action(async (options: { json?: boolean }) => {
      const { runDoctor } = await import('./doctor.js');
      setExitCode(runDoctor(options));
    });
}

/** The program: one function per command; `onCommand` hears which command runs (its flags name the parameters in its messages). */
function buildProgram(setExitCode: (code: number) => void, onCommand: (name: CommandName) => void = () => {}): Command {
  const program = new Command('mc-dropout')
    .description('Monte Carlo dropout inference for ONNX image classifiers')
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program.hook('preAction', (_program, action) => onCommand(action.name() as CommandName));
  for (const define of [definePredict, defineCalibrate, defineEvaluate, defineReport, defineInspect, defineConvert, defineMerge, defineSelect, defineDoctor])
    define(program, setExitCode);
  program.addHelpText('after', EXIT_CODES);
  return program;
}

/** Runs the CLI; the only place that turns errors into exit codes. */
export async function main(argv: string[]): Promise<number> {
  // onnxruntime 1.29+ starts a telemetry uploader with its first session on Linux and macOS (an
  // SQLite store it fsyncs, a device id, HTTPS uploads): 35-65 ms of every start on this machine,
  // for data nobody here asked to send. Off unless the user sets the variable themselves.
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  // `mc-dropout predict ... | head`: the reader closed the pipe; stop quietly like other Unix tools
  // anything else (a full disk under `> out.csv`, /dev/full, an I/O error) is an output error:
  // never exit 0 or 1 with data missing
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT.brokenPipe);
    process.stderr.write(`mc-dropout: error: ${new OutputError('standard output', writeFailureReason(error)).message}\n`);
    process.exit(EXIT.output);
  });
  let exitCode = 0;
  let command: CommandName = 'predict';
  const program = buildProgram(
    (code) => {
      exitCode = code;
    },
    (name) => {
      command = name;
    },
  );
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has printed its message; help and version are not failures
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof McDropoutError && !(error instanceof InternalError)) {
      const where = error instanceof OutputError && error.kept === error.file ? 'there' : `in ${error instanceof OutputError ? error.kept : ''}`;
      const kept = error instanceof OutputError && error.kept ? `; the finished rows are kept ${where}: free space, then rerun with --resume` : '';
      process.stderr.write(`mc-dropout: error: ${withFlags(error.message, command)}${kept}\n`);
      return error.exitCode;
    }
    process.stderr.write(`mc-dropout: internal error: ${describeError(error)}\n${error instanceof Error ? (error.stack ?? '') : ''}\n`);
    return EXIT.internal;
  }
}
