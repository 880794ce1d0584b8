/** mc-dropout as a library: the engine, the file pipeline, the statistics. The CLI uses only this. */
export { McModel, type LoadOptions, type PredictOptions, type ModelInfo, type DrawnSite, type Draw } from './engine/mc-model.js';
export { parseDevice, gatherCudaFacts, diagnoseCuda, type DeviceRequest, type CudaDiagnosis, type CudaFacts } from './engine/providers.js';
export { fillMask, imageKeyOf, freshSeed, MASK_SCHEME, type ImageKey } from './engine/masks.js';
export { predictFiles, DEFAULT_DECODE_PIXEL_BUDGET, type ImageResult, type PredictFilesOptions } from './pipeline.js';
export { runPrediction, type PredictRunConfig, type RunHooks, type RunOutcome } from './run/predict-run.js';
export { mergeShards, type MergeConfig, type MergeOutcome } from './run/merge.js';
export { parseShard, shardFromEnvironment, shardRange, shardOutputPath, derivedSeed, inputListHash, type Shard } from './run/shards.js';
export { resolvePreprocess, IMAGENET_MEAN, IMAGENET_STD, type PreprocessSpec, type PreprocessOverrides } from './preprocess/spec.js';
export { loadImageTensor, decodeToPixels } from './preprocess/decode.js';
export { pixelsToTensor } from './preprocess/tensor.js';
export { summarize, softmaxRows, entropy, topK, type McSummary } from './stats/aggregate.js';
export { collectInputs, IMAGE_EXTENSIONS } from './io/walk.js';
export { findStochasticSites, type StochasticSite } from './model/sites.js';
export { readMetadata, METADATA_PREFIX, type ModelMetadata } from './model/metadata.js';
export { BUNDLED_MODEL } from './paths.js';
export { inspectModel, type InspectReport } from './inspect.js';
export * from './errors.js';
