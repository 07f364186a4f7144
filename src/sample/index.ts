/** Sampling: `sample()` and what it is built from. */
export { SampleError } from "./errors.js";
export { editDistance, nearestNames, resolveClass, sampleLabels } from "./labels.js";
export { BUNDLED_MODEL_DIR, fitOfficialConfig, loadModelSource, type InMemoryModel, type LoadedModel, type ModelFormat, type ModelSource, type ModelSourceOptions } from "./model-source.js";
export { imageRng, imageSeed, initialNoise } from "./noise.js";
export { MANIFEST, writeSampleOutputs, type WrittenOutputs } from "./outputs.js";
export { toRgb, toUint8Hwc } from "./pixels.js";
export { encodePng, gridImage, gridLayout, GRID_PADDING, type GridLayout } from "./png.js";
export {
  DEFAULT_CFG_SCALE,
  DEFAULT_PER_CLASS,
  DEFAULT_STEPS,
  SAMPLERS,
  planSample,
  runSamplePlan,
  type RunSampleOptions,
  sample,
  samplerDiffusion,
  type SamplePlan,
  type SampleProgress,
  type SamplingOptions,
  type SampleResult,
  type SamplerName,
} from "./sample.js";
export { loadVaeSource, type InMemoryVae, type LoadedVae, type VaeSource } from "./vae-source.js";
export { formatIndices, mergeShards, missingImages, type MergeResult } from "./merge.js";
export { runShardPlan, sampleShard, type ShardProgress, type ShardResult, type ShardTarget } from "./shard.js";
export { ensureShardManifest, imageFileName, readShardManifest, settingsDiff, SHARD_FORMAT, shardManifest, shardSettings, weightsHash, type ShardManifest, type ShardSettings } from "./shard-manifest.js";
export { checkShard, parseShard, SHARD_COUNT_ENV, shardFromEnv, shardIndices, type ShardSpec } from "./shard-spec.js";
export { runShardWorkers, type WorkerExit, type WorkerOptions } from "./workers.js";
