/** The paper's studies at laptop scale: `runStudy("scaling" | "ablation" | "sampling-compute", options)`, their settings and raw rows. */
export { StudyError, StudySettingsError } from "./errors.js";
export { firstImages, latentPath, packagePath, prepareLatents } from "./latents.js";
export { ditVersion, machineInfo, type MachineInfo } from "./machine.js";
export { checkSameSettings, gitCommitFiles, ResultsFolder, settingsDiff, WorkFolder, type Sitting, type StudyFile } from "./results.js";
export { parseRows, rowsToJsonl, trainComputeGflops, type SamplingRow, type StudyRow, type TrainRow } from "./rows.js";
export { runOne, runStudy, studyWeights, type RunContext, type StudyOptions, type StudyProgress, type StudyResult, type WorkerJob } from "./runner.js";
export { samplingStudyRun, type SamplingRunOptions } from "./sampling-run.js";
export {
  BUNDLED_VAE,
  checkSettings,
  configCost,
  PRESET_NAMES,
  SCALING_PATCHES,
  SCALING_SIZES,
  STUDY_NAMES,
  studyConfig,
  studyRuns,
  studySettings,
  toDiTConfig,
  type PresetName,
  type RunSpec,
  type SamplingStudySettings,
  type StudyConfig,
  type StudyData,
  type StudyEval,
  type StudyGrid,
  type StudyName,
  type StudyRecipe,
  type StudySettings,
  type StudyWeights,
  type TrainStudySettings,
} from "./settings.js";
export { rowsFromLog, trainStudyRun, type RunOutcome, type TrainRunOptions } from "./train-run.js";
export * from "./report.js"; // `dit study report`: studyReport, readStudyResults, analyzeScaling|Ablation|Sampling, pearson/spearman, the plot specs
