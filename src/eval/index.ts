/** Evaluation metrics: FID math, Inception Score, improved precision/recall (float64). */
export { EvalInputError } from "./errors.js";
export { matmul, trace, symmetrize, symmetricEigen, sqrtPsd, type SymmetricEigen } from "./linalg.js";
export { featureStats, frechetDistance, type FeatureStats, type FrechetResult } from "./fid.js";
export { inceptionScore, softmaxRows, precisionRecall, type InceptionScoreResult, type PrecisionRecallResult } from "./metrics.js";
