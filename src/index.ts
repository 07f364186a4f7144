/** dit-ts public API. */
export { DitError, isDitError } from "./errors.js";
export { compile, lowerFunction, type CompiledFunction, type SpecTree, type TensorTree } from "./runtime/compile.js";
export { eager } from "./runtime/eager.js";
export { LoweringError } from "./runtime/lower.js";
export { Graph } from "./runtime/onnx-graph.js";
export { saveOnnx, type SaveOptions } from "./io/onnx-file.js";
export { Session, type SessionOptions } from "./runtime/session.js";
export { getOrt, setOrt, type OrtModule, type OrtRuntime } from "./runtime/ort.js";
export { Tensor, TensorSpec, spec } from "./runtime/tensor.js";
export { initJax } from "./runtime/jax.js";
export {
  BLOCK_TYPES,
  OFFICIAL_MODELS,
  configFromJson,
  configFromKwargs,
  officialConfig,
  validateConfig,
  type BlockType,
  type DiTConfig,
  type DiTKwargs,
} from "./model/config.js";
export { DiT, lowerWholeModel, type Execution, type Backend, type ForwardOptions, type Intermediates } from "./model/runner.js";
export { ditForward, type DiTParams } from "./model/dit.js";
export { applyGuidance, forwardWithCfg, type CfgMode } from "./model/guidance.js";
export { forwardFile, type ForwardFileOptions } from "./io/forward-file.js";
export { cloneStateDict, subtree, type StateDict } from "./io/state-dict-tree.js";
export { countMacs, countParams, flopsRow, flopsTable, gflops, type FlopsRow } from "./model/flops.js";
export { benchModel, type ModelBenchResult } from "./model/bench.js";
export { convertCheckpoint, type ConvertOptions, type ConvertSummary } from "./io/convert.js";
export * from "./train/index.js";
export { trainVae, saveVae, TRAIN_DEFAULTS as VAE_TRAIN_DEFAULTS, type TrainVaeOptions, type TrainVaeResult, type ReconLoss } from "./vae/train.js";
export { table } from "./util/table.js";
export { initParams, paramShapes, resizeLabelTable } from "./model/params.js";
export { loadStateDict, saveStateDict } from "./io/state-dict.js";
export { readSafetensors, writeSafetensors, SafetensorsFile, SafetensorsError, DATA_SHA256_KEY, type SafetensorsReadOptions, type SafetensorsWriteOptions } from "./io/safetensors.js";
export { Rng } from "./util/rng.js";
export { DatasetError, FASHION_MNIST_DIR, LatentDataset, extractLatents, flipHorizontal, openDataset, openImageSource, type ImageSource, type LabeledImageDataset, type LatentRecord, type OpenDatasetOptions } from "./data/index.js";
export * as data from "./data/index.js";
export { loadVae } from "./vae/load.js";
export { VaeLoadError, VaeTrainError } from "./vae/errors.js";
export { IMAGENET_CLASSES, className, findClass, type ImageNetClass } from "./model/imagenet.js";
export { exportModel } from "./io/export-model.js";
export { loadTorchCheckpoint, loadTorchStateDict, openTorchCheckpoint, type CheckpointEntry, type TorchLoadOptions } from "./io/torch-checkpoint.js";
export { pickleDumps, PickleWriteError, PyFloat, PyGlobalRef, PyOrderedDict, PyPersistentId, PyReduce, PyTuple, type PyKey, type PyValue } from "./io/pickle-writer.js";
export { saveTorchCheckpoint, TorchOrderedDict, TorchTensor, TorchTuple, type TorchSaveDType, type TorchSaveOptions, type TorchValue } from "./io/torch-save.js";
export { officialParameterOrder, OfficialCheckpointError, readOfficialCheckpoint, trainCheckpointToOfficial, writeOfficialCheckpoint, type OfficialCheckpoint, type OfficialConversion } from "./io/official-checkpoint.js";
export * from "./diffusion/index.js";
export * as vae from "./vae/index.js";
export * from "./sample/index.js";
export { decodeNpy, encodeNpy, readNpz, writeNpy, writeNpz, NpzError, type NpyArray, type NpyDType } from "./io/npz.js";
export { diffusersToOfficial, officialToDiffusers, ditKwargsFromDiffusers, isDiffusersDiT, DiffusersDiTError } from "./io/diffusers-dit.js";
export { featureStats, frechetDistance, inceptionScore, precisionRecall } from "./eval/index.js";
export { evaluate, evalReportJson, referenceStats, readReferenceStats, writeReferenceStats, openFeatureNetwork, openImageSet, type EvalReport, type EvaluateOptions, type ReferenceStats, type ImageSet } from "./eval/index.js";
export { loadFidInception, loadFmnistNetwork, openSampleFidEvaluator, sampleFidEvaluator, type SampleFidResult } from "./eval/index.js";
export type { FeatureNetwork, FeatureNetworkName, FeatureBatch } from "./eval/feature-network.js";
export { classify, classifierAccuracy, loadFmnistClassifier, type ClassifyResult, type FmnistClassifier } from "./eval/fmnist-classifier.js";
export { runStudy, studyReport, StudyError, StudySettingsError, type StudyOptions, type StudyResult, type StudyRow } from "./study/index.js";
