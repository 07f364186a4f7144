/** `dit forward`: run a model on tensors from a safetensors file (for checking a conversion). */
import type { Command } from "commander";
import { readSafetensors, toFloat32, toInt32, writeSafetensors, type StTensor } from "../io/safetensors.js";
import { isConditional } from "../model/config.js";
import type { CfgMode } from "../model/guidance.js";
import { DiT } from "../model/runner.js";
import { loadStateDict } from "../io/state-dict.js";
import { Tensor } from "../runtime/tensor.js";
import { progressBar } from "./common.js";
import { addModelOptions, modelFromOptions, type ModelOptions } from "./options.js";
import { log, printJson } from "./output.js";

export interface ForwardCommandOptions {
  /** Weights file (`--ckpt`, alias `--weights`). */
  weights: string;
  /** Model config JSON; or `model` (an official name) with `imageSize`. */
  config?: string;
  model?: string;
  imageSize?: number;
  inputs: string;
  out: string;
  cfgMode?: CfgMode;
  quiet?: boolean;
}

/** Run forward (and forward_with_cfg when the inputs hold cfg_scale); returns the names written. */
export async function runForwardCommand(o: ForwardCommandOptions): Promise<string[]> {
  const { config } = modelFromOptions({ model: o.model, config: o.config, imageSize: o.imageSize ?? 256 });
  const model = new DiT(config, loadStateDict(o.weights));
  const { tensors } = readSafetensors(o.inputs);
  const need = (k: string): StTensor => {
    const t = tensors.get(k);
    if (!t) throw new Error(`${o.inputs}: missing tensor '${k}' (expected x (N,C,H,W) float32, t (N), y (N) int64${isConditional(config) ? "" : " (unconditional: y optional)"})`);
    return t;
  };
  const xs = need("x");
  if (xs.dtype !== "F32") throw new Error(`${o.inputs}: x must be F32, got ${xs.dtype}`);
  const x = new Tensor(toFloat32(xs.data), xs.shape);
  const ts = need("t");
  const t = new Tensor(toFloat32(ts.data), ts.shape);
  const y = isConditional(config) ? new Tensor(toInt32(need("y").data, "y"), need("y").shape) : undefined;
  const bar = progressBar("forward", config.depth, o.quiet);
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  try {
    const f = await model.forward(x, t, y, { onBlock: () => bar.tick() });
    out.set("forward", { data: f.data as Float32Array, shape: f.shape });
    const scale = tensors.get("cfg_scale");
    if (scale) {
      if (scale.data.length !== 1) throw new Error(`${o.inputs}: cfg_scale must hold one value, got shape [${scale.shape}]`);
      if (!y) throw new Error("cfg_scale given but the model is unconditional");
      const g = await model.forwardWithCfg(x, t, y, Number(toFloat32(scale.data)[0]), o.cfgMode ?? "official");
      out.set("forward_with_cfg", { data: g.data as Float32Array, shape: g.shape });
    }
  } finally {
    bar.stop();
    await model.dispose();
  }
  writeSafetensors(o.out, out, { producer: "dit-ts forward", cfg_mode: o.cfgMode ?? "official" });
  return [...out.keys()];
}

export function registerForward(program: Command): void {
  const cmd = program.command("forward").description("run a DiT on x, t, y (and cfg_scale) from a safetensors file; write forward (and forward_with_cfg)");
  addModelOptions(cmd)
    .requiredOption("--weights, --ckpt <file>", "model weights (.safetensors or a PyTorch .pt checkpoint, official names)")
    .requiredOption("--inputs <file>", "safetensors with x (N,C,H,W) float32, t (N) int64/float32, y (N) int64, optional cfg_scale")
    .requiredOption("--out <file>", "output safetensors")
    .option("--cfg-mode <mode>", "guidance on the first 3 channels (official) or all latent channels (standard)", "official")
    .option("--json", "print one JSON line on stdout")
    .action(async (opts: ModelOptions & { ckpt: string; inputs: string; out: string; cfgMode?: CfgMode; json?: boolean }) => {
      if (opts.cfgMode !== "official" && opts.cfgMode !== "standard") throw new Error(`--cfg-mode must be official or standard, got '${opts.cfgMode}'`);
      const written = await runForwardCommand({ ...opts, weights: opts.ckpt, quiet: opts.json });
      if (opts.json) printJson({ out: opts.out, tensors: written });
      else log(`wrote ${written.join(", ")} to ${opts.out}`);
    });
}
