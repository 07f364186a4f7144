/** Loading and saving DiT weights as safetensors with the official state-dict names. */
import { readSafetensors, toFloat32, writeSafetensors } from "../io/safetensors.js";
import { Tensor } from "../runtime/tensor.js";
import type { StateDict } from "./dit.js";

/** Read a state dict (every tensor converted to float32). */
export function loadStateDict(path: string): StateDict {
  const { tensors } = readSafetensors(path);
  const out: StateDict = new Map();
  for (const [k, t] of tensors) {
    if (t.dtype === "F16" || t.dtype === "BF16") throw new Error(`${path}: tensor '${k}' is ${t.dtype}; only float32/float64 weights are supported`);
    out.set(k, new Tensor(toFloat32(t.data), t.shape));
  }
  return out;
}

/** Write a state dict with optional string metadata (written atomically). */
export function saveStateDict(path: string, weights: StateDict, metadata: Record<string, string> = {}): void {
  const m = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [k, t] of weights) m.set(k, { data: t.data as Float32Array, shape: t.shape });
  writeSafetensors(path, m, metadata);
}
