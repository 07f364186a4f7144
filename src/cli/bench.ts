/** `dit bench`: time one model's forward pass (random weights), for comparison with other implementations. */
import { performance } from "node:perf_hooks";
import type { Command } from "commander";
import { BLOCK_TYPES, isConditional, officialConfig, type BlockType, type DiTConfig } from "../model/config.js";
import { DiT } from "../model/runner.js";
import { countMacs } from "../model/flops.js";
import { initParams } from "../model/params.js";
import { Tensor } from "../runtime/tensor.js";
import { Rng } from "../util/rng.js";
import { log, positiveInt, printJson } from "./output.js";

export interface ModelBenchResult {
  model: string;
  block: BlockType;
  batch: number;
  resolution: number;
  median_ms: number;
  gflops_per_s: number;
  peak_rss_mb: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Warm-up, then the median of `runs` (≥ 5) forward passes. */
export async function benchModel(name: string, opts: { batch: number; block?: BlockType; resolution?: number; runs?: number }): Promise<ModelBenchResult> {
  const resolution = opts.resolution ?? 256;
  if (resolution % 8 !== 0) throw new Error(`--resolution must be a multiple of 8, got ${resolution}`);
  const block = opts.block ?? "adaLN-Zero";
  const config: DiTConfig = officialConfig(name, { block, inputSize: resolution / 8 });
  const model = new DiT(config, initParams(config, 0));
  const rng = new Rng(1);
  const N = opts.batch;
  const S = config.inputSize;
  const x = new Tensor(rng.normals(N * config.inChannels * S * S), [N, config.inChannels, S, S]);
  const t = new Tensor(Float32Array.from({ length: N }, () => Math.floor(rng.uniform() * 1000)), [N]);
  const y = isConditional(config) ? new Tensor(rng.ints(N, config.numClasses), [N]) : undefined;
  await model.forward(x, t, y); // warm-up: traces, lowers and creates the sessions
  const times: number[] = [];
  for (let i = 0; i < Math.max(5, opts.runs ?? 5); i++) {
    const t0 = performance.now();
    await model.forward(x, t, y);
    times.push(performance.now() - t0);
  }
  await model.dispose();
  const ms = median(times);
  return {
    model: name.startsWith("DiT-") ? name : `DiT-${name}`,
    block,
    batch: N,
    resolution,
    median_ms: Math.round(ms * 10) / 10,
    gflops_per_s: Math.round(((2 * countMacs(config) * N) / (ms * 1e6)) * 10) / 10,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

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
