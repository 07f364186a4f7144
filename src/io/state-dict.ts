/**
 * State dicts: flat maps from PyTorch-style dotted names ("blocks.0.attn.qkv.weight")
 * to float32 tensors, read from safetensors or PyTorch checkpoints and written
 * as safetensors. Shared by every model in the project (DiT, VAE, classifiers).
 * The type and its tree view (no file IO) are in `state-dict-tree.ts`.
 */
import { floatTensorToF32, isFloatDType, readSafetensors, writeSafetensors } from "./safetensors.js";
import { loadTorchStateDict, type CheckpointEntry, type TorchLoadOptions } from "./torch-checkpoint.js";
import { DitError } from "../errors.js";
import { Tensor } from "../runtime/tensor.js";
import type { StateDict } from "./state-dict-tree.js";

export { cloneStateDict, subtree, type StateDict } from "./state-dict-tree.js";

/** A weights file whose tensors cannot be model weights (a non-float tensor); names the file and tensor. */
export class StateDictError extends DitError {
  override name = "StateDictError";
}

/** How `loadStateDict` reads: `verifyCrc` (default true) is passed to the PyTorch loader (see TorchLoadOptions). */
export interface LoadStateDictOptions extends TorchLoadOptions {
  /** Skip non-float tensors (step counters stored beside the weights) instead of refusing the file. */
  skipNonFloat?: boolean;
}

/**
 * Read a state dict, every float tensor as float32: safetensors, or a PyTorch
 * checkpoint (`.pt`/`.pth`/`.ckpt`, read without executing code; from a
 * train.py checkpoint the `ema` entry unless `entry` says otherwise; its zip
 * CRC-32s checked unless `opts.verifyCrc` is false).
 */
export function loadStateDict(path: string, entry?: CheckpointEntry, opts: LoadStateDictOptions = {}): StateDict {
  const tensors = /\.(pt|pth|ckpt|bin)$/i.test(path) ? loadTorchStateDict(path, entry, { verifyCrc: opts.verifyCrc }).stateDict : readSafetensors(path).tensors;
  const out: StateDict = new Map();
  for (const [k, t] of tensors) {
    if (!isFloatDType(t.dtype)) {
      if (opts.skipNonFloat) continue; // e.g. step counters stored beside the weights
      throw new StateDictError(`${path}: tensor '${k}' is ${t.dtype}; model weights must be floating point`);
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
