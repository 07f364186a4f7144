/**
 * Run a DiT on tensors from a safetensors file and write its outputs to
 * another: the file-to-file check behind `dit forward`, for comparing a
 * converted checkpoint against outputs of the official PyTorch model.
 */
import { readSafetensors, toFloat32, toInt32, writeSafetensors, type StTensor } from "./safetensors.js";
import { loadStateDict } from "./state-dict.js";
import { Tensor } from "../runtime/tensor.js";
import { isConditional, type DiTConfig } from "../model/config.js";
import type { CfgMode } from "../model/guidance.js";
import { DiT, ModelInputError } from "../model/runner.js";
import { DitError } from "../errors.js";
import { ModelWeightsError } from "../model/params.js";

/** A `dit forward` inputs file without the tensors it needs, or with ones of the wrong type or shape; names the file. */
export class ForwardInputError extends DitError {
  override name = "ForwardInputError";
}

export interface ForwardFileOptions {
  config: DiTConfig;
  /** Weights file (.safetensors or a PyTorch .pt checkpoint, official names). */
  weights: string;
  /** safetensors with x (N, C, H, W) F32, t (N), y (N) for class-conditional models, optional cfg_scale (one value). */
  inputs: string;
  /** Output safetensors: `forward`, and `forward_with_cfg` when the inputs hold cfg_scale. Written atomically. */
  out: string;
  /** Guidance on the first 3 channels as the official code ("official", default) or on all channels. */
  cfgMode?: CfgMode;
  /** Called after each DiT block of the plain forward (for a progress bar). */
  onBlock?: () => void;
  /** Check the zip CRC-32 of a `.pt` weights file (default true; see TorchLoadOptions). */
  verifyCrc?: boolean;
}

/** Run forward (and forward_with_cfg when the inputs hold cfg_scale); returns the names written. */
export async function forwardFile(o: ForwardFileOptions): Promise<string[]> {
  const { config } = o;
  const { tensors } = readSafetensors(o.inputs);
  const need = (k: string): StTensor => {
    const t = tensors.get(k);
    if (!t) throw new ForwardInputError(`${o.inputs}: missing tensor '${k}' (expected x (N,C,H,W) float32, t (N), y (N) int64${isConditional(config) ? "" : " (unconditional: y optional)"})`);
    return t;
  };
  const xs = need("x");
  if (xs.dtype !== "F32") throw new ForwardInputError(`${o.inputs}: x must be F32, got ${xs.dtype}`);
  const x = new Tensor(toFloat32(xs.data), xs.shape); // (N, C, H, W)
  const ts = need("t");
  const t = new Tensor(toFloat32(ts.data), ts.shape); // (N)
  const y = isConditional(config) ? new Tensor(toInt32(need("y").data, "y"), need("y").shape) : undefined; // (N)
  const scale = tensors.get("cfg_scale");
  if (scale) {
    if (scale.data.length !== 1) throw new ForwardInputError(`${o.inputs}: cfg_scale must hold one value, got shape [${scale.shape}]`);
    if (!y) throw new ForwardInputError(`${o.inputs}: cfg_scale given but the model is unconditional`);
  }
  let model: DiT;
  try {
    model = new DiT(config, loadStateDict(o.weights, undefined, { verifyCrc: o.verifyCrc }));
  } catch (e) {
    if (e instanceof ModelWeightsError) throw new ModelWeightsError(`${o.weights}: ${e.message}`, { cause: e });
    throw e;
  }
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  try {
    const f = await model.forward(x, t, y, { onBlock: o.onBlock }).catch((e: unknown) => {
      throw e instanceof ModelInputError ? new ForwardInputError(`${o.inputs}: ${e.message}`, { cause: e }) : e;
    });
    out.set("forward", { data: f.data as Float32Array, shape: f.shape });
    if (scale) {
      const g = await model.forwardWithCfg(x, t, y!, Number(toFloat32(scale.data)[0]), o.cfgMode ?? "official");
      out.set("forward_with_cfg", { data: g.data as Float32Array, shape: g.shape });
    }
  } finally {
    await model.dispose();
  }
  writeSafetensors(o.out, out, { producer: "dit-ts forward", cfg_mode: o.cfgMode ?? "official" });
  return [...out.keys()];
}
