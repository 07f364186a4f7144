/** dit-ts public API. */
export { compile, lowerFunction, type CompiledFunction, type SpecTree, type TensorTree } from "./runtime/compile.js";
export { eager } from "./runtime/eager.js";
export { LoweringError } from "./runtime/lower.js";
export { Graph } from "./runtime/onnx-graph.js";
export { saveOnnx, type SaveOptions } from "./runtime/save.js";
export { Session, type SessionOptions } from "./runtime/session.js";
export { Tensor, TensorSpec, spec } from "./runtime/tensor.js";
export { initJax } from "./runtime/jax.js";
export {
  BLOCK_TYPES,
  OFFICIAL_MODELS,
  configFromKwargs,
  officialConfig,
  validateConfig,
  type BlockType,
  type DiTConfig,
  type DiTKwargs,
} from "./model/config.js";
export { DiT, ditForward, applyGuidance, type Execution, type Backend, type CfgMode, type ForwardOptions, type Intermediates, type StateDict } from "./model/dit.js";
export { countMacs, countParams, gflops } from "./model/flops.js";
export { initParams, paramShapes, resizeLabelTable } from "./model/params.js";
export { loadStateDict, saveStateDict } from "./model/weights.js";
export { readSafetensors, writeSafetensors, SafetensorsFile } from "./io/safetensors.js";
export { Rng } from "./util/rng.js";
export { IMAGENET_CLASSES, className, findClass, type ImageNetClass } from "./model/imagenet.js";
export { exportModel, lowerWholeModel } from "./model/export.js";
export { loadTorchCheckpoint, loadTorchStateDict, openTorchCheckpoint, type CheckpointEntry } from "./io/torch-checkpoint.js";
export * from "./diffusion/index.js";
export * as vae from "./vae/index.js";
