/**
 * Classifier-free guidance as the official `forward_with_cfg`: the batch is
 * [conditional half; unconditional half], and eps = uncond + s·(cond − uncond).
 */
import { Tensor } from "../runtime/tensor.js";
import type { DiTConfig } from "./config.js";

/**
 * Which channels guidance touches. Important: the official code guides only
 * channels 0..2 ("official", kept for exact reproducibility); "standard"
 * guides all latent channels.
 */
export type CfgMode = "official" | "standard";

/** What guidance needs of a model: its config and a forward pass. */
export interface GuidableModel<O> {
  readonly config: DiTConfig;
  forward(x: Tensor, t: Tensor, y: Tensor | undefined, opts?: O): Promise<Tensor>;
}

/**
 * forward_with_cfg: as the official code, only x's first half is used (for
 * both halves), and guidance is applied to the first 3 channels ("official")
 * or to all latent channels ("standard"). Returns the same shape as forward.
 */
export async function forwardWithCfg<O>(model: GuidableModel<O>, x: Tensor, t: Tensor, y: Tensor, scale: number, mode: CfgMode = "official", opts?: O): Promise<Tensor> {
  const N2 = x.shape[0]!;
  if (N2 % 2 !== 0) throw new Error(`forwardWithCfg: batch must be even (conditional + unconditional halves), got ${N2}`);
  const out = await model.forward(duplicateFirstHalf(x), t, y, opts); // (2n, C_out, H, W)
  return applyGuidance(out, scale, mode === "official" ? 3 : model.config.inChannels);
}

/** cat(x[:n], x[:n]) for a (2n, …) batch: the official forward_with_cfg ignores x's second half. */
export function duplicateFirstHalf(x: Tensor): Tensor {
  const half = x.shape[0]! / 2;
  const plane = x.data.length / x.shape[0]!;
  const src = x.data as Float32Array;
  const out = new Float32Array(src.length);
  out.set(src.subarray(0, half * plane), 0);
  out.set(src.subarray(0, half * plane), half * plane);
  return new Tensor(out, x.shape);
}

/**
 * Guidance on the first `guided` channels of a (2n, C_out, H, W) output:
 * both halves get uncond + s·(cond − uncond) (float32 arithmetic, as PyTorch).
 */
export function applyGuidance(out: Tensor, scale: number, guided: number): Tensor {
  const [N2, Co, H, W] = out.shape as [number, number, number, number];
  const half = N2 / 2;
  const plane = H * W;
  const src = out.data as Float32Array;
  const res = new Float32Array(src);
  const s = Math.fround(scale);
  for (let n = 0; n < half; n++) {
    for (let ch = 0; ch < Math.min(guided, Co); ch++) {
      const a = (n * Co + ch) * plane;
      const b = ((n + half) * Co + ch) * plane;
      for (let i = 0; i < plane; i++) {
        const cond = src[a + i]!;
        const uncond = src[b + i]!;
        const g = Math.fround(uncond + Math.fround(s * Math.fround(cond - uncond)));
        res[a + i] = g;
        res[b + i] = g;
      }
    }
  }
  return new Tensor(res, out.shape);
}
