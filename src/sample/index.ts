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
  sample,
  samplerDiffusion,
  type SamplePlan,
  type SampleProgress,
  type SamplingOptions,
  type SampleResult,
  type SamplerName,
} from "./sample.js";
export { loadVaeSource, type InMemoryVae, type LoadedVae, type VaeSource } from "./vae-source.js";
