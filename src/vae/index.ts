/** The SD VAE (diffusers AutoencoderKL) in jax-js, run on ONNX Runtime. */
export { SCALING_FACTOR, SD_VAE_CONFIG, downsampleFactor, validateVaeConfig, vaeConfigFromDiffusers, type VaeConfig } from "./config.js";
export { AutoencoderKL, DiagonalGaussian, decoderForward, encoderForward, scaleTensor, type VaeBackend, type VaeIntermediates, type VaeOptions } from "./autoencoder.js";
export { checkVaeStateDict, compvisKeyToDiffusers, compvisToDiffusers, isCompvisLayout, loadVaeStateDict, normalizeVaeKeys, vaeParamShapes, vaeParams } from "./weights.js";
