/** `dit export`: write a whole model as a standalone ONNX graph. */
import type { Command } from "commander";
import { officialConfig } from "../model/config.js";
import { exportModel } from "../io/export-model.js";
import { initParams } from "../model/params.js";
import { loadStateDict } from "../io/state-dict.js";
import { loadConfigFile } from "./common.js";
import { log, positiveInt, printJson } from "./output.js";

export function registerExport(program: Command): void {
  program
    .command("export")
    .description("write a whole DiT as one ONNX graph (inputs x, t, y; output out) that runs in any ONNX Runtime")
    .option("--model <name>", "official model name (e.g. DiT-XL/2)")
    .option("--config <file>", "model config JSON (instead of --model)")
    .option("--weights <file>", "weights (.safetensors or a PyTorch .pt checkpoint); without it, the official random initialisation")
    .requiredOption("--out <file>", "output .onnx file (large models also write <file>.data)")
    .option("--batch <n>", "batch size baked into the graph", positiveInt("batch"), 1)
    .option("--resolution <px>", "with --model: image resolution", positiveInt("resolution"), 256)
    .option("--external-data", "always store weights in <file>.data")
    .option("--json", "print one JSON line on stdout")
    .action(async (o: { model?: string; config?: string; weights?: string; out: string; batch: number; resolution: number; externalData?: boolean; json?: boolean }) => {
      if (!o.model === !o.config) throw new Error("give exactly one of --model or --config");
      const config = o.config ? loadConfigFile(o.config) : officialConfig(o.model!, { inputSize: o.resolution / 8 });
      const weights = o.weights ? loadStateDict(o.weights) : initParams(config, 0);
      const files = await exportModel(config, weights, o.out, { batch: o.batch, externalData: o.externalData ? true : undefined });
      if (o.json) printJson({ files, batch: o.batch });
      else log(`wrote ${files.join(", ")}`);
    });
}
