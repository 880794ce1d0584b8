/** The only module that imports onnxruntime-node: sessions, tensors, versions. */
import { createRequire } from 'node:module';
import type * as Ort from 'onnxruntime-node';
import { fromHalfArray, toHalfArray } from '../model/half.js';
import { ModelError } from '../errors.js';

export type Provider = 'cpu' | 'cuda';

export interface SessionSettings {
  provider: Provider;
  deviceId: number;
  /** CPU intra-op threads; 0 lets onnxruntime choose. */
  threads: number;
  /** Let idle intra-op threads spin between runs (onnxruntime's default); off when other work shares the cores. */
  spinning?: boolean;
  /** Graph optimization level; 'all' unless a test asks otherwise. */
  optimization?: OptimizationLevel;
  /** Folder that external weights (`location` entries) resolve against when the model comes as bytes. */
  externalDataFolder?: string;
  /** onnxruntime's own log for this session (default 'error'); 'verbose' prints where each node runs. */
  logLevel?: OnnxruntimeLogLevel;
  /** false: weights are not repacked for fast kernels (a session that only answers shapes opens sooner); default true. */
  prepacking?: boolean;
}

export type OnnxruntimeLogLevel = 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
const LOG_SEVERITY: Record<OnnxruntimeLogLevel, number> = { verbose: 0, info: 1, warning: 2, error: 3, fatal: 4 };

export type OptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** A tensor handed to or read from a session: flat data and its dims. */
export interface HostTensor {
  data: Float32Array;
  dims: readonly number[];
}

/** An int64 tensor handed to a session (row indices). */
export interface IndexTensor {
  data: BigInt64Array;
  dims: readonly number[];
}

let loaded: typeof Ort | undefined;
/**
 * onnxruntime-node, loaded on first use: a command that opens no session (inspect, merge, select,
 * --help) starts without its native library. Its CommonJS entry, loaded synchronously.
 */
function ort(): typeof Ort {
  return (loaded ??= createRequire(import.meta.url)('onnxruntime-node') as typeof Ort);
}

/** The version of onnxruntime-node that runs the sessions (loads it). */
export function onnxruntimeVersion(): string {
  return ort().env.versions.node ?? 'unknown';
}

/**
 * A session at full graph optimization, on the requested provider, or an error from onnxruntime.
 * Callers always see float32: inputs and outputs the model declares as float16 are converted here.
 */
export class RuntimeSession {
  private readonly half: Set<string>;

  private constructor(private readonly session: Ort.InferenceSession) {
    const metadata = [...session.inputMetadata, ...session.outputMetadata];
    this.half = new Set(metadata.filter((m) => m.isTensor && m.type === 'float16').map((m) => m.name));
  }

  /** Host tensors as onnxruntime tensors, float16 where the model declares float16. */
  private ortFeeds(feeds: Record<string, HostTensor | IndexTensor>): Record<string, Ort.Tensor> {
    const { Tensor } = ort();
    const out: Record<string, Ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      if (t.data instanceof BigInt64Array) out[name] = new Tensor('int64', t.data, t.dims);
      else out[name] = this.half.has(name) ? new Tensor('float16', toHalfArray(t.data), t.dims) : new Tensor('float32', t.data, t.dims);
    }
    return out;
  }

  /** Opens model bytes, or a model file by path (external weights then resolve against its folder). */
  static async create(model: Uint8Array | string, settings: SessionSettings): Promise<RuntimeSession> {
    const session: Record<string, unknown> = { intra_op: { allow_spinning: settings.spinning === false ? '0' : '1' } };
    // onnxruntime resolves a model's external data against this folder when it loads from bytes
    if (settings.externalDataFolder) session.model_external_initializers_file_folder_path = settings.externalDataFolder;
    if (settings.prepacking === false) session.disable_prepacking = '1';
    const options: Ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: settings.optimization ?? 'all',
      executionProviders: settings.provider === 'cuda' ? [{ name: 'cuda', deviceId: settings.deviceId }] : ['cpu'],
      logSeverityLevel: LOG_SEVERITY[settings.logLevel ?? 'error'] as 0 | 1 | 2 | 3 | 4,
      extra: { session },
    };
    // the environment's level is fixed when the first session opens; a verbose session lowers it first
    if (settings.logLevel === 'verbose') ort().env.logLevel = 'verbose';
    if (settings.threads > 0) {
      options.intraOpNumThreads = settings.threads;
      options.interOpNumThreads = 1;
    }
    // onnxruntime's create is overloaded (path | bytes), so each type is passed to its own overload
    return new RuntimeSession(
      typeof model === 'string' ? await ort().InferenceSession.create(model, options) : await ort().InferenceSession.create(model, options),
    );
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Runs the session; returns the named outputs as float32 host tensors. */
  async run(feeds: Record<string, HostTensor | IndexTensor>, outputs: readonly string[]): Promise<Record<string, HostTensor>> {
    const result = await this.session.run(this.ortFeeds(feeds), outputs as string[]);
    const out: Record<string, HostTensor> = {};
    for (const name of outputs) {
      const tensor = result[name]!;
      let data: Float32Array;
      if (tensor.type === 'float32') data = tensor.data as Float32Array;
      else if (tensor.type === 'float16') data = fromHalfArray(tensor.data as Uint16Array);
      else throw new ModelError(`Expected float32 or float16 for the model's output ${name} but received ${tensor.type}`);
      out[name] = { data, dims: tensor.dims };
    }
    return out;
  }

  /**
   * Each tensor output's shape as onnxruntime's shape inference sees it, without running: numbers
   * for known sizes, names for symbolic ones, '' for unknown ones (an empty list: unknown rank, or a
   * scalar), with its element type (float32, float16, int64, ...).
   */
  get outputShapes(): Map<string, { dims: readonly (number | string)[]; type: string }> {
    const out = new Map<string, { dims: readonly (number | string)[]; type: string }>();
    for (const m of this.session.outputMetadata) if (m.isTensor) out.set(m.name, { dims: m.shape, type: m.type });
    return out;
  }

  /** Runs the session and returns only the dims and element types of the named outputs. */
  async shapes(feeds: Record<string, HostTensor>, outputs: readonly string[]): Promise<Record<string, { dims: readonly number[]; type: string }>> {
    const result = await this.session.run(this.ortFeeds(feeds), outputs as string[]);
    const out: Record<string, { dims: readonly number[]; type: string }> = {};
    for (const name of outputs) out[name] = { dims: result[name]!.dims, type: result[name]!.type };
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
