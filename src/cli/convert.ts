/** `dit convert`: a PyTorch checkpoint → float32 safetensors (`convertCheckpoint`, io/convert.ts). */
import { Option, type Command } from "commander";
import { convertCheckpoint } from "../io/convert.js";
import { trainCheckpointToOfficial } from "../io/official-checkpoint.js";
import type { CheckpointEntry } from "../io/torch-checkpoint.js";
import { printJson } from "./output.js";

export function registerConvert(program: Command): void {
  program
    .command("convert")
    .description("convert a PyTorch checkpoint (.pt, e.g. the official DiT-XL-2-256x256.pt or a train.py checkpoint) to float32 safetensors")
    .argument("<input>", "torch.save checkpoint (zip or legacy format); never executed, only parsed")
    .argument("<output>", "safetensors file to write")
    .addOption(new Option("--entry <name>", "entry of a train.py checkpoint to convert (default: ema if present)").choices(["model", "ema"]))
    .addOption(
      new Option("--format <format>", "safetensors: a .pt's state dict as safetensors; official: a `dit train` checkpoint (.safetensors) as the train.py checkpoint {model, ema, opt, args} (.pt) that PyTorch loads")
        .choices(["safetensors", "official"])
        .default("safetensors"),
    )
    .option("--json", "print one JSON line {input, output, entry, tensors, params} on stdout")
    .action((input: string, output: string, opts: { entry?: CheckpointEntry; json?: boolean; format?: string }) => {
      if (opts.format === "official") {
        if (opts.entry) throw new Error("--entry picks the entry of a .pt to convert to safetensors; --format official writes the whole checkpoint");
        const o = trainCheckpointToOfficial(input, output);
        if (opts.json) return printJson(o);
        return void process.stdout.write(`wrote ${o.output}: train.py checkpoint at step ${o.step} (model, ema, AdamW state, args; ${o.tensors} tensors, ${o.params.toLocaleString("en-US")} parameters)\n`);
      }
      const s = convertCheckpoint(input, output, { entry: opts.entry });
      if (opts.json) return printJson(s);
      const from = s.entry ? `entry '${s.entry}' of ${s.input}` : s.input;
      process.stdout.write(`wrote ${s.output}: ${s.tensors} tensors, ${s.params.toLocaleString("en-US")} parameters (from ${from})\n`);
    });
}
