/** `dit bench`: time one model's forward pass (random weights), for comparison with other implementations. */
import { Option, type Command } from "commander";
import { benchModel } from "../model/bench.js";
import { BLOCK_TYPES, type BlockType } from "../model/config.js";
import { addModelOptions, modelFromOptions, positiveInt, type ModelOptions } from "./options.js";
import { log, printJson } from "./output.js";

export function registerBench(program: Command): void {
  const cmd = program.command("bench").description("time a model's forward pass with random weights (warm-up, then the median of ≥ 5 runs)");
  addModelOptions(cmd, { defaultModel: "DiT-XL/2" })
    .option("--batch, --batch-size <n>", "batch size", positiveInt("batch-size"), 1)
    .addOption(new Option("--block <type>", "with --model: conditioning block").choices([...BLOCK_TYPES]).default("adaLN-Zero"))
    .option("--runs <n>", "timed runs (at least 5)", positiveInt("runs"), 5)
    .option("--json", "print one JSON line {model, block, batch, resolution, median_ms, gflops_per_s, peak_rss_mb} on stdout")
    .action(async (o: ModelOptions & { batchSize: number; block: string; runs: number; json?: boolean }) => {
      const { name, config } = modelFromOptions(o, "DiT-XL/2"); // exactly one of --model / --config
      const r = o.config
        ? await benchModel(name, { config, batch: o.batchSize, runs: o.runs })
        : await benchModel(o.model ?? "DiT-XL/2", { batch: o.batchSize, block: o.block as BlockType, resolution: o.imageSize, runs: o.runs });
      if (o.json) printJson(r);
      else log(`${r.model} (${r.block}) batch ${r.batch} at ${r.resolution}px: ${r.median_ms} ms median, ${r.gflops_per_s} GFLOP/s, peak RSS ${r.peak_rss_mb} MB`);
    });
}
