/**
 * mc-dropout as a library: the curated public face, and the CLI's only door into the core (a test
 * holds it to that). Every export carries TSDoc at its declaration with its units and shapes.
 * Errors: every error thrown for bad input is a McDropoutError subclass (exit codes in its
 * `exitCode`); messages name library parameters in backticks (see `param`).
 */

// Errors
export * from './errors.js';

// The model and its passes
export { McModel, type ModelInfo, type ModelIo } from './engine/mc-model.js';
export type { LoadOptions, PredictOptions } from './engine/options.js';
export type { AdaptivePool } from './engine/adaptive-pool.js';
export type { DrawnSite, Draw } from './engine/draws.js';
export type { ExecutionPlan } from './engine/plan.js';
export { parseDevice, gatherCudaFacts, diagnoseCuda, type DeviceRequest, type CudaDiagnosis, type CudaFacts } from './engine/providers.js';
export { imageKeyOf, MASK_SCHEME, MAX_SEED, type ImageKey } from './engine/masks.js';
export { freshSeed } from './stats/random.js';
export { BUNDLED_MODEL, packageVersion } from './paths.js';

// Files in, results out
export { predictFiles, type PredictFilesOptions, type PassModel } from './pipeline.js';
export type { ImageResult } from './io/rows.js';
export { runPrediction } from './run/predict/execute.js';
export type { MapOptions, PredictRunConfig, RunOutcome } from './run/predict/config.js';
export type { RunHooks } from './run/hooks.js';
export { mergeShards, type MergeConfig, type MergeOutcome } from './run/merge.js';
export { parseShard, shardFromEnvironment, shardRange, shardOutputPath, derivedSeed, inputListHash, type Shard } from './run/shards.js';
export { collectInputs, IMAGE_EXTENSIONS } from './io/walk.js';

// Preprocessing
export {
  resolvePreprocess,
  parseColor,
  parseColour,
  IMAGENET_MEAN,
  IMAGENET_STD,
  DEFAULT_PIXEL_LIMIT,
  DEFAULT_CROP_FRACTION,
  DEFAULT_DECODE_PIXEL_BUDGET,
  type PreprocessSpec,
  type PreprocessOverrides,
} from './preprocess/spec.js';
export { DEFAULT_ADAPTIVE_RULE, type AdaptiveRule } from './stats/adaptive.js';
export { loadImageTensor, decodeToPixels } from './preprocess/decode.js';
export { pixelsToTensor } from './preprocess/tensor.js';
export type { ChannelOrder, Interpolation, ResizeMode } from './model/metadata.js';

// Test-time augmentation views (#36): torchvision's flips, crops and scales, several from one decode
export { parseViews, viewName, isIdentity, IDENTITY_VIEW, MAX_VIEWS, SCALE_RANGE, type View, type CropPosition, type ViewSpec } from './preprocess/views.js';
export { decodeViews, type ViewRequest } from './preprocess/decode-views.js';

// Statistics
export { summarize, softmaxRows, entropy, topK, type McSummary } from './stats/aggregate.js';

// Evaluation, reports and figures
export { runEvaluation, type EvaluateRunConfig } from './run/evaluate/run.js';
export { evaluateEarlierRun, evaluationFromFile, type EvaluateFromConfig } from './run/evaluate/from-file.js';
export { readEvaluationReport, evaluationJson, type EvaluationReport, type ImageRecord } from './run/evaluate/file.js';
export { EvaluationAccumulator, outcomeOf, passCounts, type EvaluationNumbers } from './evaluate/evaluation.js';
export { metricsOf, calibrationOf, riskCoverageOf, aurocOf, confusionOf, type MetricSet, type Outcome } from './evaluate/metrics.js';
export { metricRows, metricTable, curveRows, methodRows, passesLabel, textTable, CURVE_HEADER, METHOD_HEADER, type MetricRow } from './evaluate/table.js';
export { setCoverage, type SetCoverage } from './conformal/coverage.js';
export { oodTable, oodScoreOf, type OodScoreRow, type LogitScores } from './ood/evaluation.js';
export {
  UNCERTAINTY,
  UNCERTAINTY_SCORES,
  UNCERTAINTY_ALIASES,
  uncertaintyOf,
  uncertaintyScoreNamed,
  type UncertaintyScore,
  type UncertaintyAlias,
  type UncertaintyInputs,
  type UncertaintyDefinition,
} from './stats/uncertainty.js';
export { readTruth, classIndexOf, type Truth, type TruthSource } from './evaluate/truth.js';
export { renderEvaluationFigures, writeFigures, type RenderedFigure } from './plots/figures.js';
export { buildReportHtml } from './report/build.js';

// Active learning
export { selectImages, type SelectConfig, type SelectOutcome } from './run/select.js';
export { ACQUISITIONS, acquisitionNamed, type Acquisition } from './select/rank.js';

// Calibration, conformal prediction sets, out-of-distribution evaluation
export {
  fitTemperature,
  temperedMean,
  temperedNll,
  logProbabilities,
  type LabeledPasses,
  type LabelledPasses,
  type TemperatureFit,
} from './calibration/temperature.js';
export {
  calibrateSets,
  setOf,
  predictionSet,
  conformityScore,
  conformalQuantile,
  conformalUniforms,
  rankLabels,
  CONFORMAL_SCORES,
  RAPS_DEFAULTS,
  type ConformalScore,
  type ScoreOptions,
  type CalibrationImage,
  type ConformalThresholds,
} from './conformal/sets.js';
export { oodMetrics, averagePrecision, fprAt95, energyScore, type OodMetrics } from './ood/metrics.js';
export { conformalUniformOf } from './conformal/sets.js';
export { temperedPasses } from './calibration/temperature.js';
export {
  fitCalibration,
  applyCalibration,
  checkCalibrationFits,
  calibrationWarnings,
  fewestImagesFor,
  CALIBRATION_FORMAT,
  type Calibration,
  type CalibratedPreprocess,
  type CalibratedResult,
  type CalibrationContext,
  type CalibrationExample,
  type ConformalSettings,
} from './calibration/calibration.js';
export { readCalibration, parseCalibration, calibrationJson, CALIBRATION_FORMAT_1 } from './calibration/calibration-file.js';
export type { LabeledRunConfig, LabelledRunConfig } from './run/labeled-run.js';
export { runCalibration, calibrateEarlierRun, type CalibrateRunConfig, type CalibrateFromConfig, type CalibrateOutcome } from './run/calibrate-run.js';
export type { PassesRun } from './io/npy.js';
export { readPassesRun, type SavedRun } from './run/read-run.js';

// Models: read, inspect, convert, doctor
export { readOnnxFile, readOnnxBytes, type OnnxFile } from './model/read.js';
export { OnnxGraph, type TensorInfo, type GraphNode } from './model/graph.js';
export { inspectModel, inspectJson, type InspectReport, type InspectJson, type TensorDescription } from './run/inspect.js';
export { convertFile, type ConvertFileConfig, type ConvertFileOutcome } from './run/convert.js';
export { convertModel, type ConvertOptions, type ConvertReport } from './model/convert.js';
export { MC_ENSEMBLE_OUTPUTS } from './model/mc-ensemble-graph.js';
export { injectionCandidates, paddleDropouts, type InjectionCandidate, type PaddleDropout } from './model/inject.js';
export { findStochasticSites, type StochasticSite } from './model/sites.js';
export { readMetadata, METADATA_PREFIX, type ModelMetadata } from './model/metadata.js';
export { doctorReport, type DoctorReport } from './run/doctor.js';

// Writing outputs safely (what the commands use for their files)
export { outputTarget, outputIdentities, checkInputsAreNotOutputs, type OutputTarget } from './io/targets.js';
export { writeFileAtomicSync, writeJsonAtomic, writeToStream, writeFailureReason } from './io/durable.js';

// Ensembles: the uncertainty of members x views x passes, split into its parts
export { decomposeUncertainty, type UncertaintyParts } from './ensemble/decomposition.js';
export { Members, type Member } from './ensemble/members.js';
export { passMajorRows } from './ensemble/rows.js';
export { predictEnsembleFiles, IDENTITY_VIEWS, type EnsembleFilesOptions } from './ensemble/predict-files.js';
export { runViews, viewNames } from './ensemble/views.js';
export { memberSeed } from './ensemble/seeds.js';
export { readMemberList } from './io/member-list.js';

// segmentation: a model whose class scores are a map, its passes reduced per pixel
export type { PixelMaps } from './segmentation/maps.js';
export { PassReducer, type RowKind } from './segmentation/reduce.js';
export { predictMapFiles, type MapModel, type MapResult, type PredictMapsOptions } from './segmentation/predict-files.js';
export { imageScores, type ImageScores } from './segmentation/scores.js';
export { resizeBilinear, resizeMaps } from './segmentation/resample.js';
export { SegmentationEvaluation, type SegmentationMetrics } from './segmentation/metrics.js';
export { vocPalette } from './segmentation/palette.js';
export { mapMetricRows, classRows, CLASS_HEADER, type MapMetricRow } from './segmentation/table.js';
export { runMapEvaluation, type MapEvaluateConfig, type MapEvaluationReport, type ShownImage } from './run/segment/evaluate.js';
export { buildMapReportHtml } from './report/segmentation.js';
