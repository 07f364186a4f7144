/** The model benchmark behind `dit bench`: one model's forward pass with random weights, timed. */
import { Tensor } from "../runtime/tensor.js";
import { Rng } from "../util/rng.js";
import { ModelConfigError, officialConfig, isConditional, type BlockType, type DiTConfig } from "./config.js";
import { countMacs } from "./flops.js";
import { initParams } from "./params.js";
import { DiT } from "./runner.js";

export interface ModelBenchResult {
  model: string;
  block: BlockType;
  batch: number;
  resolution: number;
  median_ms: number;
  gflops_per_s: number;
  /** Peak resident memory of the process (Node only; 0 elsewhere). */
  peak_rss_mb: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Peak resident set size in MB where the platform reports it (Node), else 0. */
function peakRssMb(): number {
  const proc = (globalThis as { process?: { resourceUsage?: () => { maxRSS: number } } }).process;
  return proc?.resourceUsage ? Math.round(proc.resourceUsage().maxRSS / 1024) : 0;
}

/**
 * Warm-up, then the median of `runs` (≥ 5) forward passes of an official
 * model (random weights) at a resolution (pixels; latent = resolution / 8),
 * or of `opts.config` (then `name` only labels the result).
 * GFLOP/s counts 2 × the paper's multiply-accumulates.
 */
export async function benchModel(name: string, opts: { batch: number; block?: BlockType; resolution?: number; runs?: number; config?: DiTConfig }): Promise<ModelBenchResult> {
  let config: DiTConfig;
  if (opts.config) {
    config = opts.config;
  } else {
    const resolution = opts.resolution ?? 256;
    if (resolution % 8 !== 0) throw new ModelConfigError(`--resolution must be a multiple of 8, got ${resolution}`);
    config = officialConfig(name, { block: opts.block ?? "adaLN-Zero", inputSize: resolution / 8 });
  }
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
    model: name.startsWith("DiT-") || opts.config ? name : `DiT-${name}`,
    block: config.block,
    batch: N,
    resolution: config.inputSize * 8,
    median_ms: Math.round(ms * 10) / 10,
    gflops_per_s: Math.round(((2 * countMacs(config) * N) / (ms * 1e6)) * 10) / 10,
    peak_rss_mb: peakRssMb(),
  };
}
