/** `dit convert`: a PyTorch checkpoint → float32 safetensors (`convertCheckpoint`, io/convert.ts). */
import { Option, type Command } from "commander";
import { convertCheckpoint } from "../io/convert.js";
import { trainCheckpointToOfficial } from "../io/official-checkpoint.js";
import { exportModelWeights, isTrainCheckpointFile } from "../train/checkpoint.js";
import type { CheckpointEntry } from "../io/torch-checkpoint.js";
import { printJson } from "./output.js";
import { checkInput, checkOutputFile } from "./paths.js";
import { UsageError } from "./usage-error.js";

/** A path given as a positional or as an option (not two different ones). */
function onePath(what: string, positional: string | undefined, option: string | undefined, flag: string): string {
  if (positional && option && positional !== option) throw new UsageError(`${what} given twice: '${positional}' and ${flag} '${option}'`);
  const p = option ?? positional;
  if (!p) throw new UsageError(`give the ${what} (${flag} FILE, or as a positional argument)`);
  return p;
}


export function registerConvert(program: Command): void {
  program
    .command("convert")
    .description("convert a PyTorch checkpoint (.pt, e.g. the official DiT-XL-2-256x256.pt or a train.py checkpoint) to safetensors (float tensors as float32, others in their own dtype); a `dit train` checkpoint to a model file (its EMA weights with config and class names) or, with --format official, to the train.py checkpoint")
    .argument("[input]", "torch.save checkpoint (zip or legacy format; never executed, only parsed); same as --ckpt")
    .argument("[output]", "safetensors file to write; same as --out")
    .option("--ckpt <file>", "torch.save checkpoint to convert")
    .option("--out <file>", "safetensors file to write")
    .addOption(new Option("--entry <name>", "entry of a train.py checkpoint to convert (default: ema if present)").choices(["model", "ema"]))
    .addOption(
      new Option("--format <format>", "safetensors: a .pt's state dict, or a `dit train` checkpoint's EMA (--entry model: raw) weights with their config, as safetensors; official: a `dit train` checkpoint as the train.py checkpoint {model, ema, opt, args} (.pt) that PyTorch loads")
        .choices(["safetensors", "official"])
        .default("safetensors"),
    )
    .option("--vae <path>", "a `dit train` checkpoint → model file: the VAE to record in it (default: the checkpoint's own), stored relative to the new file")
    .option("--no-verify-crc", "skip the CRC-32 check of .pt zip records (faster; a corrupt file may load)")
    .option("--json", "print one JSON line {input, output, entry, tensors, params} on stdout")
    .action((input: string | undefined, output: string | undefined, opts: { ckpt?: string; out?: string; entry?: CheckpointEntry; json?: boolean; format?: string; vae?: string; verifyCrc: boolean }) => {
      if (opts.ckpt && input && !output) [input, output] = [undefined, input]; // dit convert --ckpt in.pt out.safetensors
      const src = onePath("checkpoint", input, opts.ckpt, "--ckpt");
      const dst = onePath("output", output, opts.out, "--out");
      checkInput(opts.ckpt ? "--ckpt" : "[input]", src, "file");
      if (opts.vae !== "none") checkInput("--vae", opts.vae, "file or folder");
      checkOutputFile(opts.out ? "--out" : "[output]", dst);
      if (opts.format === "official") {
        if (opts.entry) throw new UsageError("--entry picks the entry of a .pt to convert to safetensors; --format official writes the whole checkpoint");
        const o = trainCheckpointToOfficial(src, dst);
        if (opts.json) return printJson(o);
        return void process.stdout.write(`wrote ${o.output}: train.py checkpoint at step ${o.step} (model, ema, AdamW state, args; ${o.tensors} tensors, ${o.params.toLocaleString("en-US")} parameters)\n`);
      }
      if (isTrainCheckpointFile(src)) {
        const e = exportModelWeights(src, dst, { entry: opts.entry, vae: opts.vae });
        if (opts.json) return printJson({ input: src, output: dst, entry: e.entry, tensors: e.tensors });
        return void process.stdout.write(`wrote ${dst}: the ${e.entry} weights of ${src} (${e.tensors} tensors) with their config and class names\n`);
      }
      const s = convertCheckpoint(src, dst, { entry: opts.entry, verifyCrc: opts.verifyCrc });
      if (opts.json) return printJson(s);
      const from = s.entry ? `entry '${s.entry}' of ${s.input}` : s.input;
      process.stdout.write(`wrote ${s.output}: ${s.tensors} tensors, ${s.params.toLocaleString("en-US")} parameters (from ${from})\n`);
    });
}
