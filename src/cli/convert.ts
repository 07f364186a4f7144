/** `dit convert`: a PyTorch checkpoint → float32 safetensors (`convertCheckpoint`, io/convert.ts). */
import { Option, type Command } from "commander";
import { convertCheckpoint } from "../io/convert.js";
import type { CheckpointEntry } from "../io/torch-checkpoint.js";
import { printJson } from "./output.js";

/** A path given as a positional or as an option (not two different ones). */
function onePath(what: string, positional: string | undefined, option: string | undefined, flag: string): string {
  if (positional && option && positional !== option) throw new Error(`${what} given twice: '${positional}' and ${flag} '${option}'`);
  const p = option ?? positional;
  if (!p) throw new Error(`give the ${what} (${flag} FILE, or as a positional argument)`);
  return p;
}

export function registerConvert(program: Command): void {
  program
    .command("convert")
    .description("convert a PyTorch checkpoint (.pt, e.g. the official DiT-XL-2-256x256.pt or a train.py checkpoint) to safetensors (float tensors as float32, others in their own dtype)")
    .argument("[input]", "torch.save checkpoint (zip or legacy format; never executed, only parsed); same as --ckpt")
    .argument("[output]", "safetensors file to write; same as --out")
    .option("--ckpt <file>", "torch.save checkpoint to convert")
    .option("--out <file>", "safetensors file to write")
    .addOption(new Option("--entry <name>", "entry of a train.py checkpoint to convert (default: ema if present)").choices(["model", "ema"]))
    .option("--json", "print one JSON line {input, output, entry, tensors, params} on stdout")
    .action((input: string | undefined, output: string | undefined, opts: { ckpt?: string; out?: string; entry?: CheckpointEntry; json?: boolean }) => {
      if (opts.ckpt && input && !output) [input, output] = [undefined, input]; // dit convert --ckpt in.pt out.safetensors
      const s = convertCheckpoint(onePath("checkpoint", input, opts.ckpt, "--ckpt"), onePath("output", output, opts.out, "--out"), { entry: opts.entry });
      if (opts.json) return printJson(s);
      const from = s.entry ? `entry '${s.entry}' of ${s.input}` : s.input;
      process.stdout.write(`wrote ${s.output}: ${s.tensors} tensors, ${s.params.toLocaleString("en-US")} parameters (from ${from})\n`);
    });
}
