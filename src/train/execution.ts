/**
 * How a training step runs: "fused" = one graph for the whole step
 * (`StepRunner`, fastest), "staged" = block by block with recomputation
 * (`StagedStepRunner`, memory of one block); "auto" picks fused unless the
 * fused step's estimated peak memory exceeds a budget (half the machine's
 * memory by default).
 */
import { totalmem } from "node:os";
import type { GaussianDiffusion } from "../diffusion/gaussian-diffusion.js";
import { tokens, type DiTConfig } from "../model/config.js";
import { paramShapes } from "../model/params.js";
import { StepRunner, type MicroBatch, type StepStats } from "./runner.js";
import { StagedStepRunner } from "./staged.js";
import type { AdamWOptions, TrainState } from "./state.js";

export type Execution = "auto" | "fused" | "staged";

/** What `train` needs of a step runner (StepRunner and StagedStepRunner both are one). */
export interface TrainStepRunner {
  readonly names: string[];
  step(micro: MicroBatch[], lr: number, emaDecay: number): Promise<StepStats>;
  dispose(): Promise<void>;
}

/**
 * Bytes of activations per (sample · layer · (T·D + H·T²)) element in the fused graph:
 * every saved intermediate of a block's forward and backward, and ONNX Runtime's arena slack.
 * Calibrated with the 16·W below on fused steps at batch 8: DiT-S/2 3.6 GB peak RSS (bench/train-xl.ts
 * --execution fused --model DiT-S/2 --batch 8), DiT-B/4 9.3 GB (bench/train.ts).
 */
export const FUSED_ACTIVATION_BYTES = 24;

/** The process itself: Node, jax-js's Wasm heap, ONNX Runtime and its sessions' code. */
const BASE_BYTES = 0.5 * 2 ** 30;

/**
 * Estimated peak resident memory (bytes) of training `config` at micro-batch `batch`:
 *
 *   state  4W            weights, EMA and both Adam moments (W = trained weights' bytes), host arrays
 *   fused  + 12W + A     the graph's gradients and optimizer temporaries, the updated state from
 *                        ONNX Runtime (4W) and its copies into JavaScript (4W), the previous state
 *                        until it is collected; A = k·N·L·(T·D + H·T²) activations
 *   staged + 8W/L + A/L  one block's update outputs and activations, h₀ … h_L (N·T·D·4 bytes each),
 *          + W/2         and replaced state not yet collected (DiT-XL/2 batch 2: 12.4 GiB measured)
 *
 * Gradient accumulation (`accumulate`) adds W of host gradient sums.
 */
export function estimateStepBytes(config: DiTConfig, batch: number, execution: "fused" | "staged", accumulate = false): number {
  let w = 0;
  for (const [k, s] of paramShapes(config)) if (k !== "pos_embed") w += 4 * s.reduce((a, b) => a * b, 1);
  const T = tokens(config) + (config.block === "in-context" ? 2 : 0);
  const D = config.hiddenSize;
  const L = config.depth;
  const act = FUSED_ACTIVATION_BYTES * batch * L * (T * D + config.numHeads * T * T);
  const acc = accumulate ? w : 0;
  if (execution === "fused") return BASE_BYTES + 4 * w + 12 * w + act + acc;
  return BASE_BYTES + 4 * w + w / 2 + (8 * w) / L + act / L + 4 * batch * T * D * (L + 1) + acc;
}

/** The fused step when its estimate fits in `budgetBytes` (default: half of the machine's memory), else staged. */
export function chooseExecution(config: DiTConfig, batch: number, accumulate = false, budgetBytes = totalmem() / 2): "fused" | "staged" {
  return estimateStepBytes(config, batch, "fused", accumulate) <= budgetBytes ? "fused" : "staged";
}

/** A step runner of the given execution (see `StepRunner` for the arguments). */
export function createStepRunner(
  execution: "fused" | "staged",
  config: DiTConfig,
  diffusion: GaussianDiffusion,
  adamw: AdamWOptions,
  state: TrainState,
  opts: { backend?: "onnx" | "eager" } = {},
): TrainStepRunner {
  return execution === "staged" ? new StagedStepRunner(config, diffusion, adamw, state, opts) : new StepRunner(config, diffusion, adamw, state, opts);
}
