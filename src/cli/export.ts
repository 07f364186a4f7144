/** `dit export`: write a whole model as a standalone ONNX graph. */
import type { Command } from "commander";
import { exportModel } from "../io/export-model.js";
import { loadStateDict } from "../io/state-dict.js";
import { initParams } from "../model/params.js";
import { addModelOptions, modelFromOptions, positiveInt, type ModelOptions } from "./options.js";
import { checkInput, checkOutputFile } from "./paths.js";
import { log, printJson } from "./output.js";

export function registerExport(program: Command): void {
  const cmd = program.command("export").description("write a whole DiT as one ONNX graph (inputs x, t, y; output out) that runs in any ONNX Runtime");
  addModelOptions(cmd)
    .option("--weights, --ckpt <file>", "weights (.safetensors or a PyTorch .pt checkpoint); without it, the official random initialisation")
    .requiredOption("--out <file>", "output .onnx file (large models also write <file>.data)")
    .option("--batch, --batch-size <n>", "batch size baked into the graph", positiveInt("batch-size"), 1)
    .option("--external-data", "always store weights in <file>.data")
    .option("--web", "for the browser page: spell out the ops onnxruntime-web's WebGPU gets wrong (tanh-mode Gelu, sin/cos) as plain ops; same results on every backend")
    .option("--json", "print one JSON line {files, batch} on stdout")
    .action(async (o: ModelOptions & { ckpt?: string; out: string; batchSize: number; externalData?: boolean; web?: boolean; json?: boolean }) => {
      checkInput("--ckpt", o.ckpt, "file");
      checkOutputFile("--out", o.out);
      const { config } = modelFromOptions(o);
      const weights = o.ckpt ? loadStateDict(o.ckpt) : initParams(config, 0);
      const files = await exportModel(config, weights, o.out, { batch: o.batchSize, externalData: o.externalData ? true : undefined, web: o.web });
      if (o.json) printJson({ files, batch: o.batchSize });
      else log(`wrote ${files.join(", ")}`);
    });
}
