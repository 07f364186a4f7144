/**
 * AdamW and the EMA update as jax-js functions, so they compile into the same
 * ONNX graph as the forward and backward pass (no per-parameter JavaScript in
 * the training loop). The update is PyTorch 1.13's single-tensor
 * `torch.optim.AdamW` (Loshchilov & Hutter, decoupled weight decay):
 *
 *   p ← p · (1 − lr·λ)
 *   m ← β₁·m + (1 − β₁)·g
 *   v ← β₂·v + (1 − β₂)·g²
 *   p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
 *
 * and train.py's `update_ema`: ema ← d·ema + (1 − d)·p.
 */
import { numpy as np, type Array } from "@jax-js/jax";
import type { AdamWOptions } from "./state.js";

/** Per-step scalars of the update, computed on the host in float64 (as PyTorch does with Python floats). */
export interface StepScalars<T> {
  /** lr / (1 − β₁ᵗ) */
  stepSize: T;
  /** √(1 − β₂ᵗ) */
  bc2Sqrt: T;
  /** 1 − lr·λ (decoupled weight decay) */
  decayFactor: T;
  /** EMA decay d of this step */
  emaDecay: T;
}

/** The host values of `StepScalars` for step t (1-based) at learning rate lr. */
export function stepScalars(opts: AdamWOptions, t: number, lr: number, emaDecay: number): StepScalars<number> {
  const [b1, b2] = opts.betas;
  return { stepSize: lr / (1 - b1 ** t), bc2Sqrt: Math.sqrt(1 - b2 ** t), decayFactor: 1 - lr * opts.weightDecay, emaDecay };
}

/** One parameter's AdamW update; returns [p, m, v]. */
export function adamwLeaf(opts: AdamWOptions, s: StepScalars<Array>, p: Array, g: Array, m: Array, v: Array): [Array, Array, Array] {
  const [b1, b2] = opts.betas;
  const pDecayed = opts.weightDecay === 0 ? p : p.mul(s.decayFactor.ref); // skipped at λ = 0, as PyTorch's mul by 1 is exact
  const m2 = m.mul(b1).add(g.ref.mul(1 - b1)); // exp_avg.mul_(β₁).add_(g, alpha=1−β₁)
  const v2 = v.mul(b2).add(g.ref.mul(g).mul(1 - b2)); // exp_avg_sq.mul_(β₂).addcmul_(g, g, value=1−β₂)
  const denom = np.sqrt(v2.ref).div(s.bc2Sqrt.ref).add(opts.eps); // (√v / √bc₂) + ε
  const p2 = pDecayed.sub(m2.ref.div(denom).mul(s.stepSize.ref)); // p.addcdiv_(m, denom, value=−step_size)
  return [p2, m2, v2];
}

/** ema ← d·ema + (1 − d)·p (train.py's update_ema). */
export function emaLeaf(d: Array, ema: Array, p: Array): Array {
  return ema.mul(d.ref).add(p.mul(np.subtract(1, d)));
}
