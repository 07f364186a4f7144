/** Model functions for the diffusion process, built from a DiT. */
import type { CfgMode } from "../model/guidance.js";
import type { DiT } from "../model/runner.js";
import type { Tensor } from "../runtime/tensor.js";
import type { ModelFn } from "./gaussian-diffusion.js";

/**
 * `(x, t) => model.forward(x, t, y)`, or with `cfgScale` the guided
 * `model.forwardWithCfg(x, t, y, cfgScale, mode)` (batch = conditional half
 * then unconditional half, as the official sample.py).
 */
export function ditModelFn(model: DiT, y: Tensor | undefined, opts: { cfgScale?: number; cfgMode?: CfgMode } = {}): ModelFn {
  if (opts.cfgScale !== undefined) {
    if (!y) throw new Error("ditModelFn: classifier-free guidance needs labels y");
    const scale = opts.cfgScale;
    return (x, t) => model.forwardWithCfg(x, t, y, scale, opts.cfgMode ?? "official");
  }
  return (x, t) => model.forward(x, t, y);
}
