/** DiT training: the official recipe as `train(options)`, its pieces, and checkpoints. */
export { adamwLeaf, emaLeaf, stepScalars, type StepScalars } from "./adamw.js";
export { Adam, type AdamOptions } from "./adam.js";
export {
  CheckpointError,
  checkpointPath,
  configToKwargs,
  exportModelWeights,
  isTrainCheckpointFile,
  latestCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
  type Checkpoint,
  type TrainMeta,
} from "./checkpoint.js";
export { imageArrayData, latentFileData, vaeEncodedData, type LatentSource, type TrainData } from "./data.js";
export { chooseExecution, createStepRunner, estimateStepBytes, type Execution, type TrainStepRunner } from "./execution.js";
export { acquireRunLock, RunLockedError } from "./lock.js";
export { checkConfigForData, configForData, isLatentFile, openTrainData, type OpenTrainDataOptions } from "./open-data.js";
export { parseTrainLog, plotTrainLog, readTrainLog, renderLossChart, TrainPlotError } from "./plot.js";
export { loadResumeSource } from "./resume-source.js";
export { StepRunner, trainedNames, zeroMoments, type MicroBatch, type StepStats } from "./runner.js";
export { writeSampleGrid, type GridOptions } from "./sample-grid.js";
export { StagedStepRunner } from "./staged.js";
export type { AdamState, AdamWOptions, TrainState } from "./state.js";
export { fusedStepFn, gradStepFn, updateStepFn, type TrainParams } from "./step.js";
export { NonFiniteLossError, OFFICIAL_RECIPE, train, type TrainEvalMetrics, type LogRecord, type TrainOptions, type TrainResult, type TrainSettings } from "./train.js";
