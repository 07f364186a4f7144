/** `dit bench`: time one model's forward pass (random weights), for comparison with other implementations. */
import type { Command } from "commander";
import { benchModel } from "../model/bench.js";
import { BLOCK_TYPES, type BlockType } from "../model/config.js";
import { log, positiveInt, printJson } from "./output.js";

export function registerBench(program: Command): void {
  program
    .command("bench")
    .description("time a model's forward pass with random weights (warm-up, then the median of ≥ 5 runs)")
    .option("--model <name>", "official model name", "DiT-XL/2")
    .option("--batch <n>", "batch size", positiveInt("batch"), 1)
    .option("--block <type>", `conditioning block (${BLOCK_TYPES.join(", ")})`, "adaLN-Zero")
    .option("--resolution <px>", "image resolution (latent = px / 8)", positiveInt("resolution"), 256)
    .option("--runs <n>", "timed runs (at least 5)", positiveInt("runs"), 5)
    .option("--json", "print one JSON line on stdout")
    .action(async (o: { model: string; batch: number; block: string; resolution: number; runs: number; json?: boolean }) => {
      if (!BLOCK_TYPES.includes(o.block as BlockType)) throw new Error(`unknown block '${o.block}': expected one of ${BLOCK_TYPES.join(", ")}`);
      const r = await benchModel(o.model, { batch: o.batch, block: o.block as BlockType, resolution: o.resolution, runs: o.runs });
      if (o.json) printJson(r);
      else log(`${r.model} (${r.block}) batch ${r.batch} at ${r.resolution}px: ${r.median_ms} ms median, ${r.gflops_per_s} GFLOP/s, peak RSS ${r.peak_rss_mb} MB`);
    });
}
