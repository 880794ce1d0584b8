/** What loading a model and running its passes take, and the defaults of every session setting: the one place they are written. */
import type { AdaptiveRule } from '../stats/adaptive.js';
import { parseDevice, type DeviceRequest } from './providers.js';
import type { OnnxruntimeLogLevel, OptimizationLevel, SessionSettings } from './runtime.js';

/** How McModel.load opens a model: device, which dropout is live, input size, threads, memory bounds, trunk reuse and prefix sharing. */
export interface LoadOptions {
  /** auto (default) | cpu | cuda | cuda:N */
  device?: string | DeviceRequest;
  /** 'force' makes inert Dropout nodes live (training_mode false or absent). */
  dropout?: 'auto' | 'force';
  /** Drop probability for every site, overriding the model's rates. */
  dropoutRate?: number;
  /** Spatial size for models whose input height/width are dynamic. */
  inputSize?: { height: number; width: number };
  /** CPU intra-op threads; 0 or undefined lets onnxruntime choose. */
  threads?: number;
  /**
   * Let onnxruntime's idle threads spin between runs (default true: fastest for back-to-back runs,
   * 1.36x at batch 1 on MobileNetV2). Turn it off when other work, such as image decoding, shares
   * the cores: the CLI does (10% faster end to end on the bundled model, 2,000 PNGs).
   */
  idleThreadsSpin?: boolean;
  /** Most rows (image x pass) in one session run; bounds memory. */
  maxRowsPerRun?: number;
  /** Allow loading a model with no stochastic site (deterministic runs only). */
  allowDeterministic?: boolean;
  /** 'auto' (default) computes the deterministic trunk once per image when it can; 'off' runs the whole graph per pass. */
  trunkReuse?: 'auto' | 'off';
  /**
   * 'auto' (default): with DropPath sites (stochastic depth), passes whose drop decisions agree
   * compute what lies before the next site once; 'off': every pass after the trunk runs alone.
   */
  prefixSharing?: 'auto' | 'off';
  /** Graph optimization level of the session (default 'all'; dropout stays live at every level). */
  optimization?: OptimizationLevel;
  /** The class-score output by name; default: the [N, C] output the stochastic sites reach. */
  output?: string;
  /**
   * A folder where what a load learns of a model by probing it (row shapes, batch-major tensors)
   * is kept, keyed by the model's SHA-256, so later loads of the same model skip the probe; unset
   * (the default): no cache. The CLI keeps it in the user's cache folder (docs/performance.md).
   */
  cacheFolder?: string;
  /** Called with one-line warnings (e.g. CUDA fallback); the library never prints. */
  onWarning?: (message: string) => void;
  /** onnxruntime's own log on stderr for the inference sessions (default 'error'; 'verbose' shows node placement). */
  onnxruntimeLogLevel?: OnnxruntimeLogLevel;
}

/** How McModel.predict runs: T passes (or adaptive T), the seed of the masks, and how rows are batched. */
export interface PredictOptions {
  /** Number of stochastic passes T (>= 1). */
  passes: number;
  /** Seed of the mask generator (integer in [0, 2^53)). */
  seed: number;
  /** Dropout off, one pass: the eval-mode output. */
  deterministic?: boolean;
  /** 'replicate' (default): B x T rows per run; 'sequential': one run per pass. */
  strategy?: 'replicate' | 'sequential';
  /**
   * Index of the first pass (default 0): passes firstPass .. firstPass + passes - 1 run, each with
   * the masks of its index, so a later round continues an earlier one exactly (adaptive T).
   */
  firstPass?: number;
  /**
   * Adaptive T: passes in rounds of `minPasses` until each image's estimates settle (see
   * stats/adaptive.ts); `passes` and `firstPass` are then ignored. Each image gets its own T_i, and
   * its passes are the first T_i of a fixed run with the same seed. With trunk reuse the trunk runs
   * once per image, whatever the rounds.
   */
  adaptive?: AdaptiveRule;
}

/** The device a load asks for (default auto: CUDA where it is ready, else CPU). */
export function deviceRequestOf(options: LoadOptions): DeviceRequest {
  return typeof options.device === 'string' ? parseDevice(options.device) : (options.device ?? { kind: 'auto', deviceId: 0 });
}

/** A session's settings besides its provider and device, from the load options and their defaults. */
export function sessionSettingsOf(options: LoadOptions, externalDataFolder?: string): Omit<SessionSettings, 'provider' | 'deviceId'> {
  return {
    threads: options.threads ?? 0,
    optimization: options.optimization ?? 'all',
    spinning: options.idleThreadsSpin ?? true,
    ...(externalDataFolder && { externalDataFolder }),
    ...(options.onnxruntimeLogLevel && { logLevel: options.onnxruntimeLogLevel }),
  };
}
