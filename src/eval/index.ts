/** Evaluation: feature networks (Inception-v3, the Fashion-MNIST classifier), reference statistics, FID/sFID/IS/precision/recall (float64), FID of a model's samples. */
export { EvalInputError } from "./errors.js";
export { matmul, trace, symmetrize, symmetricEigen, sqrtPsd, type SymmetricEigen } from "./linalg.js";
export { featureStats, frechetDistance, type FeatureStats, type FrechetResult } from "./fid.js";
export {
  checkInceptionWeights,
  defaultInceptionWeightsPath,
  fidInceptionForward,
  fidInceptionFromStateDict,
  fidInceptionTaps,
  inceptionInput,
  inceptionWeightsKey,
  InceptionWeightsError,
  loadFidInception,
  readInceptionWeights,
  resizeBilinear,
  INCEPTION_SIZE,
  INCEPTION_WEIGHTS_ENV,
  INCEPTION_WEIGHTS_FILE,
  INCEPTION_WEIGHTS_URL,
  SFID_DIM,
  type InceptionHeads,
  type InceptionLayout,
  type InceptionParams,
  type InceptionTapName,
} from "./inception.js";
export { inceptionScore, softmaxRows, precisionRecall, type InceptionScoreResult, type PrecisionRecallResult } from "./metrics.js";
export { fileWeightsKey, fmnistInput, isGreyRgb, loadFmnistNetwork, FMNIST_INPUT_SIZES, type FmnistNetworkOptions } from "./fmnist-network.js";
export { defaultFeatureNetwork, FEATURE_NETWORK_NAMES, isFeatureNetworkName, openFeatureNetwork, type OpenFeatureNetworkOptions } from "./networks.js";
export {
  datasetImageSet,
  imageSetShape,
  inMemoryImageSet,
  listImageFiles,
  loadNpzImageSet,
  npzImageSet,
  openImageFolderSet,
  openImageSet,
  SAMPLE_IMAGE_EXTENSIONS,
  SAMPLE_MANIFEST,
  type DatasetImageSetOptions,
  type ImageSet,
} from "./sample-set.js";
export { extractImageSetFeatures, type ExtractedFeatures, type ExtractSetOptions } from "./extract-features.js";
export {
  checkReferenceMatches,
  computeReferenceStats,
  defaultReferenceCacheDir,
  isReferenceStatsNpz,
  readReferenceStats,
  referenceCacheKey,
  referenceStats,
  referenceStatsFromNpz,
  writeReferenceStats,
  REFERENCE_META_KEY,
  REFERENCE_STATS_FORMAT,
  type NetworkIdentity,
  type ReferenceMeta,
  type ReferenceStats,
  type ReferenceStatsOptions,
  type ReferenceStatsResult,
} from "./reference-stats.js";
export { computeMetrics, evaluate, evalReportJson, INCEPTION_SCORE_SPLIT_SIZE, PRECISION_RECALL_K, type EvalMetrics, type EvalPhase, type EvalReport, type EvaluateOptions } from "./evaluate.js";
export type { ExtractOptions, FeatureBatch, FeatureNetwork, FeatureNetworkName } from "./feature-network.js";
export { openSampleFidEvaluator, sampleFidEvaluator, type OpenSampleFidOptions, type SampleFidOptions, type SampleFidResult } from "./sample-fid.js";
