/**
 * State dicts: flat maps from PyTorch-style dotted names ("blocks.0.attn.qkv.weight")
 * to float32 tensors, read from safetensors or PyTorch checkpoints and written
 * as safetensors. Shared by every model in the project (DiT, VAE, classifiers).
 * The type and its tree view (no file IO) are in `state-dict-tree.ts`.
 */
import { floatTensorToF32, isFloatDType, readSafetensors, writeSafetensors } from "./safetensors.js";
import { loadTorchStateDict, type CheckpointEntry } from "./torch-checkpoint.js";
import { Tensor } from "../runtime/tensor.js";
import type { StateDict } from "./state-dict-tree.js";

export { cloneStateDict, subtree, type StateDict } from "./state-dict-tree.js";

/**
 * Read a state dict, every float tensor as float32: safetensors, or a PyTorch
 * checkpoint (`.pt`/`.pth`/`.ckpt`, read without executing code; from a
 * train.py checkpoint the `ema` entry unless `entry` says otherwise).
 */
export function loadStateDict(path: string, entry?: CheckpointEntry, opts: { skipNonFloat?: boolean } = {}): StateDict {
  const tensors = /\.(pt|pth|ckpt|bin)$/i.test(path) ? loadTorchStateDict(path, entry).stateDict : readSafetensors(path).tensors;
  const out: StateDict = new Map();
  for (const [k, t] of tensors) {
    if (!isFloatDType(t.dtype)) {
      if (opts.skipNonFloat) continue; // e.g. step counters stored beside the weights
      throw new Error(`${path}: tensor '${k}' is ${t.dtype}; model weights must be floating point`);
    }
    out.set(k, new Tensor(floatTensorToF32(t), t.shape));
  }
  return out;
}

/** Write a state dict with optional string metadata (written atomically). */
export function saveStateDict(path: string, weights: StateDict, metadata: Record<string, string> = {}): void {
  const m = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [k, t] of weights) m.set(k, { data: t.data as Float32Array, shape: t.shape });
  writeSafetensors(path, m, metadata);
}
