/**
 * A seeded initialisation of an AutoencoderKL from scratch, in typed arrays,
 * following PyTorch's defaults for the layers diffusers builds it from:
 *
 *   Conv2d / Linear weight: kaiming_uniform(a=√5) = U(−1/√fan_in, 1/√fan_in)
 *   Conv2d / Linear bias:   U(−1/√fan_in, 1/√fan_in)
 *   GroupNorm:              weight 1, bias 0
 *
 * fan_in = in_channels · kh · kw (conv) or in_features (linear). Parameters
 * are drawn in state-dict order (`vaeParamShapes`), each weight before its bias.
 */
import { Tensor } from "../runtime/tensor.js";
import { Rng } from "../util/rng.js";
import type { VaeConfig } from "./config.js";
import { vaeParamShapes } from "./weights.js";

/** Whether a parameter name belongs to a GroupNorm (norm1/norm2, group_norm, conv_norm_out). */
export function isNormParam(name: string): boolean {
  return /(?:^|\.)(?:norm\d*|group_norm|conv_norm_out)\.(?:weight|bias)$/.test(name);
}

/** Seeded PyTorch-default initialisation of every parameter of a VAE config (diffusers names). */
export function initVaeParams(c: VaeConfig, seed = 0): Map<string, Tensor> {
  const rng = new Rng(seed);
  const shapes = vaeParamShapes(c);
  const out = new Map<string, Tensor>();
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (isNormParam(name)) {
      data = name.endsWith(".weight") ? new Float32Array(n).fill(1) : new Float32Array(n);
    } else {
      const wShape = name.endsWith(".bias") ? shapes.get(name.replace(/\.bias$/, ".weight")) : shape;
      if (!wShape || wShape.length < 2) throw new Error(`initVaeParams: no weight for '${name}'`);
      const fanIn = wShape.slice(1).reduce((a, b) => a * b, 1);
      const bound = 1 / Math.sqrt(fanIn);
      data = rng.uniforms(n, -bound, bound);
    }
    out.set(name, new Tensor(data, shape));
  }
  return out;
}
