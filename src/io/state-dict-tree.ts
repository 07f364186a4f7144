/**
 * The state-dict type and its tree view, without file IO (so the model code
 * that needs them stays free of `node:` imports and builds for the browser).
 * Loading and saving are in `state-dict.ts`.
 */
import type { JsTree } from "@jax-js/jax";
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

/** A deep copy (fresh Float32Arrays), e.g. the EMA's initial weights. */
export function cloneStateDict(weights: StateDict): StateDict {
  return new Map([...weights].map(([k, v]) => [k, new Tensor(Float32Array.from(v.data as Float32Array), [...v.shape])]));
}
