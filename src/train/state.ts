/**
 * The whole state of a training run, as one value: what a checkpoint file
 * holds and what `--resume` restores. Tensor names are the official
 * state-dict names (`blocks.0.attn.qkv.weight`, …).
 */
import type { StateDict } from "../io/state-dict.js";

/** AdamW's per-parameter moments (PyTorch `exp_avg`, `exp_avg_sq`) for every trainable parameter, and its step count. */
export interface AdamState {
  /** Completed optimizer steps (PyTorch's per-parameter `step`; the same for every parameter). */
  step: number;
  expAvg: StateDict;
  expAvgSq: StateDict;
}

/** AdamW hyper-parameters (torch.optim.AdamW's names, camelCased). */
export interface AdamWOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

export interface TrainState {
  /** Completed training steps. */
  step: number;
  /** The trained weights (every parameter, pos_embed included). */
  model: StateDict;
  /** The exponential moving average of `model` (what sampling uses). */
  ema: StateDict;
  adam: AdamState;
}
