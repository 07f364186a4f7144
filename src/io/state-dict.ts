/**
 * State dicts: flat maps from PyTorch-style dotted names ("blocks.0.attn.qkv.weight")
 * to float32 tensors, read from safetensors or PyTorch checkpoints and written
 * as safetensors. Shared by every model in the project (DiT, VAE, classifiers).
 */
import type { JsTree } from "@jax-js/jax";
import { floatTensorToF32, readSafetensors, writeSafetensors } from "./safetensors.js";
import { loadTorchStateDict, type CheckpointEntry } from "./torch-checkpoint.js";
import { Tensor } from "../runtime/tensor.js";

/** A state dict: official PyTorch names → float32 tensors. */
export type StateDict = Map<string, Tensor>;

/** Nest a flat state dict ("blocks.0.attn.qkv.weight") under a prefix into a parameter tree. */
export function subtree(weights: StateDict, prefix: string): JsTree<Tensor> {
  const root: Record<string, unknown> = {};
  for (const [k, v] of weights) {
    if (!k.startsWith(prefix)) continue;
    const parts = k.slice(prefix.length).split(".");
    let node = root;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]!] = v;
  }
  return root as JsTree<Tensor>;
}

/**
 * Read a state dict, every float tensor as float32: safetensors, or a PyTorch
 * checkpoint (`.pt`/`.pth`/`.ckpt`, read without executing code; from a
 * train.py checkpoint the `ema` entry unless `entry` says otherwise).
 */
export function loadStateDict(path: string, entry?: CheckpointEntry, opts: { skipNonFloat?: boolean } = {}): StateDict {
  const tensors = /\.(pt|pth|ckpt|bin)$/i.test(path) ? loadTorchStateDict(path, entry).stateDict : readSafetensors(path).tensors;
  const out: StateDict = new Map();
  for (const [k, t] of tensors) {
    if (!FLOATS.has(t.dtype)) {
      if (opts.skipNonFloat) continue; // e.g. step counters stored beside the weights
      throw new Error(`${path}: tensor '${k}' is ${t.dtype}; model weights must be floating point`);
    }
    out.set(k, new Tensor(floatTensorToF32(t), t.shape));
  }
  return out;
}

const FLOATS = new Set(["F32", "F64", "F16", "BF16"]);

/** Write a state dict with optional string metadata (written atomically). */
export function saveStateDict(path: string, weights: StateDict, metadata: Record<string, string> = {}): void {
  const m = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [k, t] of weights) m.set(k, { data: t.data as Float32Array, shape: t.shape });
  writeSafetensors(path, m, metadata);
}

/** A deep copy (fresh Float32Arrays), e.g. the EMA's initial weights. */
export function cloneStateDict(weights: StateDict): StateDict {
  return new Map([...weights].map(([k, v]) => [k, new Tensor(Float32Array.from(v.data as Float32Array), [...v.shape])]));
}
