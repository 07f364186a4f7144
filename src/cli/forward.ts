/** `dit forward`: run a model on tensors from a safetensors file (for checking a conversion); the library's `forwardFile`. */
import { Option, type Command } from "commander";
import type { CfgMode } from "../model/guidance.js";
import { forwardFile } from "../io/forward-file.js";
import { progressBar } from "./common.js";
import { addModelOptions, modelFromOptions, type ModelOptions } from "./options.js";
import { checkInput, checkOutputFile } from "./paths.js";
import { log, printJson } from "./output.js";

export function registerForward(program: Command): void {
  const cmd = program.command("forward").description("run a DiT on x, t, y (and cfg_scale) from a safetensors file; write forward (and forward_with_cfg)");
  addModelOptions(cmd)
    .requiredOption("--weights, --ckpt <file>", "model weights (.safetensors or a PyTorch .pt checkpoint, official names)")
    .requiredOption("--inputs <file>", "safetensors with x (N,C,H,W) float32, t (N) int64/float32, y (N) int64, optional cfg_scale")
    .requiredOption("--out <file>", "output safetensors")
    .addOption(new Option("--cfg-mode <mode>", "guidance on the first 3 channels (official) or all latent channels (standard)").choices(["official", "standard"]).default("official"))
    .option("--no-verify-crc", "skip the CRC-32 check of .pt zip records (faster; a corrupt file may load)")
    .option("--json", "print one JSON line on stdout")
    .action(async (opts: ModelOptions & { ckpt: string; inputs: string; out: string; cfgMode?: CfgMode; json?: boolean; verifyCrc: boolean }) => {
      checkInput("--ckpt", opts.ckpt, "file");
      checkInput("--inputs", opts.inputs, "file");
      checkOutputFile("--out", opts.out);
      const { config } = modelFromOptions(opts);
      const bar = progressBar("forward", config.depth, opts.json);
      try {
        const written = await forwardFile({ config, weights: opts.ckpt, inputs: opts.inputs, out: opts.out, cfgMode: opts.cfgMode, verifyCrc: opts.verifyCrc, onBlock: () => bar.tick() });
        bar.stop();
        if (opts.json) printJson({ out: opts.out, tensors: written });
        else log(`wrote ${written.join(", ")} to ${opts.out}`);
      } finally {
        bar.stop();
      }
    });
}
