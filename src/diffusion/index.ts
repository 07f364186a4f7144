/** Gaussian diffusion (official `diffusion/` package), camelCased. */
export { createDiffusion, spacedDiffusion, type CreateDiffusionOptions } from "./create.js";
export {
  GaussianDiffusion,
  type DdimOptions,
  type GaussianDiffusionOptions,
  type LossType,
  type MeanVariance,
  type ModelFn,
  type ModelMeanType,
  type ModelVarType,
  type PMeanVariance,
  type SampleOptions,
  type SampleStep,
  type Timesteps,
  type TrainingLossTerms,
} from "./gaussian-diffusion.js";
export { approxStandardNormalCdf, discretizedGaussianLogLikelihood, meanFlat, normalKl, tanhF32 } from "./losses.js";
export { ditModelFn } from "./model-fn.js";
export { logSnrTimesteps, RespacingError, roundHalfEven, spaceTimesteps } from "./respace.js";
export { betasForAlphaBar, getBetaSchedule, getNamedBetaSchedule, linspace, type NoiseSchedule } from "./schedules.js";
export { trainingLossFn, trainingLossInputs, trainingLossTerms, type TrainingLossInputs } from "./training-loss-fn.js";
export { dpmSolverSampleLoop, dpmSolverSampleLoopProgressive, type DpmSolverOptions } from "./dpm-solver.js";
