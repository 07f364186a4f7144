/**
 * Training-step throughput (`npm run bench:train`, and part of `npm run bench`):
 * the whole official train.py step — hybrid loss, backward, AdamW, EMA — as
 * `StepRunner` runs it, on 32×32×4 latents (random weights, official init):
 *
 *   DiT-S/2 batch 8, DiT-B/4 batch 8, and DiT-XL/2 batch 2 staged (block by
 *   block with recomputation: `StagedStepRunner`, when src/train/staged.ts exists)
 *
 * Each case runs in its own Node process, so its peak RSS is its own. Reports
 * ms/step, img/s, GFLOP/s (3 × the forward flops × batch, 2 FLOPs per
 * multiply-accumulate, as `dit bench`), the fraction of the cores' FMA peak
 * (bench/fma-peak.c, measured in the same run) and peak RSS. For DiT-S/2 it
 * also times the step interleaved with the compiled DiT-S block
 * forward+backward (bench/blocks.ts; the same N=8, T=256, D=384 block), whose
 * GFLOP/s ratio has the target ≥ 0.9.
 *
 *   npm run bench:train                       table on stdout
 *   npm run bench:train -- --json             one JSON line on stdout
 *   npm run bench:train -- --no-xl            skip DiT-XL/2 (≈ 11 GB of state)
 *   npm run bench:train -- --runs 7           timed steps per case (≥ 5)
 *   npm run bench:train -- --profile          where the DiT-S/2 step's time goes
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { cpus, freemem } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createDiffusion } from "../src/diffusion/index.js";
import { trainingLossInputs } from "../src/diffusion/training-loss-fn.js";
import { cloneStateDict, subtree } from "../src/io/state-dict.js";
import { officialConfig, type DiTConfig } from "../src/model/config.js";
import { timestepFrequencies } from "../src/model/embeddings.js";
import { countMacs } from "../src/model/flops.js";
import { initParams } from "../src/model/params.js";
import { compile } from "../src/runtime/compile.js";
import { initJax } from "../src/runtime/jax.js";
import { Tensor } from "../src/runtime/tensor.js";
import { stepScalars } from "../src/train/adamw.js";
import { StepRunner, trainedNames, zeroMoments, type MicroBatch, type StepStats } from "../src/train/runner.js";
import type { AdamWOptions, TrainState } from "../src/train/state.js";
import { fusedStepFn, gradStepFn, updateStepFn } from "../src/train/step.js";
import { table } from "../src/util/table.js";
import { Rng } from "../src/util/rng.js";
import { BLOCK_CASES, compiledBlockFwdBwd } from "./blocks.js";
import { measureFmaPeak, type FmaPeak } from "./peak.js";
import { timeInterleaved, timeIt } from "./timing.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const STAGED = join(HERE, "..", "src", "train", "staged.ts");

export interface TrainCase {
  /** Short id (the child process's `--case`). */
  id: string;
  model: string;
  batch: number;
  staged: boolean;
}

export const TRAIN_CASES: TrainCase[] = [
  { id: "S2", model: "DiT-S/2", batch: 8, staged: false },
  { id: "B4", model: "DiT-B/4", batch: 8, staged: false },
  { id: "XL2", model: "DiT-XL/2", batch: 2, staged: true },
];

/** One measured case (what a child process prints). */
export interface TrainRow {
  model: string;
  batch: number;
  staged: boolean;
  /** Median ms of a whole step (after a warm-up step). */
  ms_per_step: number;
  img_per_s: number;
  gflops_per_s: number;
  /** gflops_per_s / the FMA peak of every core, measured in the same run; null when it could not be measured. */
  peak_fraction: number | null;
  peak_rss_mb: number;
  /** The first (compiling) step, ms. */
  first_step_ms: number;
  runs_ms: number[];
}

/** DiT-S/2 step against the compiled DiT-S block forward+backward, timed interleaved. */
export interface StepVsBlock {
  step_ms: number;
  step_gflops_per_s: number;
  block_ms: number;
  block_gflops_per_s: number;
  /** step GFLOP/s ÷ block GFLOP/s (target ≥ 0.9). */
  ratio: number;
}

/** Where the DiT-S/2 step's time goes (medians, ms). */
export interface StepProfile {
  /** `StepRunner.step` as a whole. */
  runner_step: number;
  /** trainingLossInputs on the host (x_t, posterior, coefficients, edge masks). */
  host_inputs: number;
  /** the fused compiled step alone (graph I/O included), inputs prepared beforehand. */
  fused_graph: number;
  /** the forward+backward graph alone (loss and gradients out; no optimizer state in or out). */
  grad_graph: number;
  /** the AdamW + EMA graph alone (params, grads, m, v, ema in; params, m, v, ema out). */
  update_graph: number;
}

interface ChildResult {
  row: TrainRow;
  vsBlock?: StepVsBlock;
  profile?: StepProfile;
}

export type TrainCaseResult = TrainRow | { model: string; batch: number; staged: boolean; na: string };

export interface TrainBenchResult {
  machine: string;
  fma_peak: FmaPeak | null;
  fma_peak_note?: string;
  cases: TrainCaseResult[];
  s2_vs_block: StepVsBlock | null;
  profile?: StepProfile;
}

const ADAMW: AdamWOptions = { lr: 1e-4, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 };
const EMA_DECAY = 0.9999;

const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);
const round1 = (v: number) => Math.round(v * 10) / 10;

/** A random micro-batch as train.py draws it: x_0, uniform t, ε, labels with 10 % dropped to the null class. */
function randomBatch(config: DiTConfig, N: number, rng: Rng): MicroBatch {
  const S = config.inputSize;
  const n = N * config.inChannels * S * S;
  const shape = [N, config.inChannels, S, S];
  const y = rng.ints(N, config.numClasses);
  for (let i = 0; i < N; i++) if (rng.uniform() < config.classDropoutProb) y[i] = config.numClasses; // LabelEmbedder.token_drop
  return {
    x: new Tensor(rng.normals(n), shape),
    t: Int32Array.from({ length: N }, () => Math.floor(rng.uniform() * 1000)),
    noise: new Tensor(rng.normals(n), shape),
    y,
  };
}

/** The step runner for a case; the staged one only where src/train/staged.ts provides it. */
async function makeRunner(c: TrainCase, config: DiTConfig, state: TrainState): Promise<{ step: (b: MicroBatch[], lr: number, d: number) => Promise<StepStats>; dispose: () => Promise<void> }> {
  if (!c.staged) return new StepRunner(config, createDiffusion(""), ADAMW, state);
  const mod = (await import(pathToFileURL(STAGED).href)) as { StagedStepRunner?: new (...a: ConstructorParameters<typeof StepRunner>) => StepRunner };
  if (typeof mod.StagedStepRunner !== "function") throw new Error("src/train/staged.ts has no StagedStepRunner");
  return new mod.StagedStepRunner(config, createDiffusion(""), ADAMW, state);
}

/**
 * Stop this process (exit 3) when the machine's available memory falls under
 * 1 GiB, so that a big case on a shared machine fails alone instead of
 * calling the OOM killer onto others.
 */
function memoryWatchdog(label: string): NodeJS.Timeout {
  const t = setInterval(() => {
    if (freemem() < 2 ** 30) {
      process.stdout.write(JSON.stringify({ error: `${label}: stopped, the machine has under 1 GiB of memory available (peak RSS ${peakRssMb()} MB)` }) + "\n");
      process.exit(3);
    }
  }, 200);
  t.unref();
  return t;
}

/** Runs in the child process: one case, printed as one JSON line. */
async function runCase(c: TrainCase, opts: { runs: number; vsBlock: boolean; profile: boolean; peakGflops: number | null }): Promise<ChildResult> {
  await initJax();
  const watchdog = memoryWatchdog(`${c.model} batch ${c.batch}`);
  const config = officialConfig(c.model, { inputSize: 32 });
  const model = initParams(config, 0);
  const names = trainedNames(config);
  const state: TrainState = { step: 0, model, ema: cloneStateDict(model), adam: { step: 0, ...zeroMoments(model, names) } };
  const runner = await makeRunner(c, config, state);
  const batch = randomBatch(config, c.batch, new Rng(1));
  const step = () => runner.step([batch], ADAMW.lr, EMA_DECAY);
  const flops = 2 * 3 * countMacs(config) * c.batch;
  try {
    const t0 = performance.now();
    const first = await step();
    const firstMs = performance.now() - t0;
    if (!Number.isFinite(first.loss)) throw new Error(`${c.model}: first step's loss is ${first.loss}`);
    const timing = await timeIt(step, { warmup: 1, runs: opts.runs });
    const ms = timing.medianMs;
    const gflops = flops / (ms * 1e6);
    const row: TrainRow = {
      model: c.model,
      batch: c.batch,
      staged: c.staged,
      ms_per_step: round1(ms),
      img_per_s: Math.round((c.batch / (ms / 1000)) * 100) / 100,
      gflops_per_s: round1(gflops),
      peak_fraction: opts.peakGflops ? Math.round((gflops / opts.peakGflops) * 1000) / 1000 : null,
      peak_rss_mb: peakRssMb(), // before anything else is built in this process
      first_step_ms: Math.round(firstMs),
      runs_ms: timing.runs.map(round1),
    };
    const out: ChildResult = { row };
    if (opts.vsBlock) {
      const block = compiledBlockFwdBwd(BLOCK_CASES[0]!); // DiT-S block, N=8, T=256, D=384: one DiT-S/2 block at batch 8
      try {
        const [ts, tb] = await timeInterleaved([step, block.run], { runs: opts.runs });
        const sg = flops / (ts!.medianMs * 1e6);
        const bg = block.flops / (tb!.medianMs * 1e6);
        out.vsBlock = { step_ms: round1(ts!.medianMs), step_gflops_per_s: round1(sg), block_ms: round1(tb!.medianMs), block_gflops_per_s: round1(bg), ratio: Math.round((sg / bg) * 1000) / 1000 };
      } finally {
        await block.dispose();
      }
    }
    if (opts.profile) out.profile = await profileStep(config, state, batch, step, opts.runs);
    return out;
  } finally {
    clearInterval(watchdog);
    await runner.dispose();
  }
}

/** Time the parts of a step separately (each a median of `runs` after a warm-up). */
async function profileStep(config: DiTConfig, state: TrainState, b: MicroBatch, step: () => Promise<unknown>, runs: number): Promise<StepProfile> {
  const diffusion = createDiffusion("");
  const names = trainedNames(config);
  const tree = (d: Map<string, Tensor>) => subtree(new Map(names.map((k) => [k, d.get(k)!])), "");
  const N = b.x.shape[0]!;
  const hostInputs = () => trainingLossInputs(diffusion, b.x, b.t, b.noise, new Tensor(Int32Array.from(b.y), [N]));
  const inp = hostInputs();
  const freqs = new Tensor(timestepFrequencies(), [128]);
  const sc = stepScalars(ADAMW, 1, ADAMW.lr, EMA_DECAY);
  const s1 = (v: number) => new Tensor(Float32Array.of(v), []);
  const scalars = { stepSize: s1(sc.stepSize), bc2Sqrt: s1(sc.bc2Sqrt), decayFactor: s1(sc.decayFactor), emaDecay: s1(sc.emaDecay) };
  const pos = state.model.get("pos_embed")!;
  const [p, m, v, e] = [tree(state.model), tree(state.adam.expAvg), tree(state.adam.expAvgSq), tree(state.ema)];
  const fused = compile(fusedStepFn(config, ADAMW) as never);
  const grad = compile(gradStepFn(config) as never);
  const upd = compile(updateStepFn(ADAMW) as never);
  try {
    const g = ((await grad(p, pos, inp as never, freqs)) as { grads: Record<string, unknown> }).grads;
    const fusedRun = () => fused(p, m, v, e, pos, inp as never, freqs, scalars);
    const gradRun = () => grad(p, pos, inp as never, freqs);
    const updRun = () => upd(p, g as never, m, v, e, scalars);
    const [tStep, tHost, tFused, tGrad, tUpd] = await timeInterleaved([step, hostInputs, fusedRun, gradRun, updRun], { runs });
    return {
      runner_step: round1(tStep!.medianMs),
      host_inputs: round1(tHost!.medianMs),
      fused_graph: round1(tFused!.medianMs),
      grad_graph: round1(tGrad!.medianMs),
      update_graph: round1(tUpd!.medianMs),
    };
  } finally {
    for (const f of [fused, grad, upd]) await f.dispose();
  }
}

/** Run one case in a fresh Node process (its own peak RSS); resolves with its JSON. */
function spawnCase(c: TrainCase, args: string[]): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), "--case", c.id, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const line = out.trim().split("\n").pop() ?? "";
      if (code === 0 && line.startsWith("{")) resolve(JSON.parse(line) as ChildResult);
      else reject(new Error(`${c.model} batch ${c.batch}: child exited with ${signal ?? `code ${code}`}${line ? `: ${line}` : ""}`));
    });
  });
}

export interface TrainBenchOptions {
  runs?: number;
  /** Include DiT-XL/2 batch 2 staged (default true; needs ≈ 11 GB for its state). */
  xl?: boolean;
  /** Also time the parts of the DiT-S/2 step. */
  profile?: boolean;
  log?: (line: string) => void;
}

/** Measure the FMA peak, then every case in its own process. */
export async function benchTrain(opts: TrainBenchOptions = {}): Promise<TrainBenchResult> {
  const runs = Math.max(5, opts.runs ?? 5);
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const machine = `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, Node ${process.version}`;
  log("measuring the cores' FMA peak (bench/fma-peak.c)…");
  const { peak, reason } = measureFmaPeak();
  const result: TrainBenchResult = { machine, fma_peak: peak, ...(reason ? { fma_peak_note: reason } : {}), cases: [], s2_vs_block: null };
  for (const c of TRAIN_CASES) {
    const na = (why: string) => result.cases.push({ model: c.model, batch: c.batch, staged: c.staged, na: why });
    if (c.staged && opts.xl === false) {
      na("skipped (--no-xl)");
      continue;
    }
    if (c.staged && !existsSync(STAGED)) {
      na("n/a (staged training not available)");
      continue;
    }
    log(`benchmarking the ${c.model} training step, batch ${c.batch}${c.staged ? ", staged" : ""} (own process)…`);
    const args = ["--runs", String(runs), ...(peak ? ["--peak", String(peak.peak_gflops)] : [])];
    if (c.id === "S2") args.push("--vs-block", ...(opts.profile ? ["--profile"] : []));
    try {
      const r = await spawnCase(c, args);
      result.cases.push(r.row);
      if (r.vsBlock) result.s2_vs_block = r.vsBlock;
      if (r.profile) result.profile = r.profile;
    } catch (e) {
      if (!c.staged) throw e;
      na(`n/a (staged training failed: ${(e as Error).message.slice(0, 300)})`);
    }
  }
  return result;
}

/** The result as text tables. */
export function formatTrainBench(r: TrainBenchResult, runs: number): string {
  const lines: string[] = [];
  const pk = r.fma_peak ? `FMA peak ${r.fma_peak.peak_gflops} GFLOP/s on ${r.fma_peak.cpus} cores` : `FMA peak not measured (${r.fma_peak_note ?? "unknown"})`;
  lines.push(`Training steps on 32×32×4 latents: loss, backward, AdamW, EMA (median of ${runs} after warm-up; ${r.machine}; ${pk})`, "");
  lines.push(
    table(
      ["model", "batch", "ms/step", "img/s", "GFLOP/s", "of FMA peak", "peak RSS MB", "first step ms"],
      r.cases.map((c) =>
        "na" in c
          ? [c.model + (c.staged ? " (staged)" : ""), c.batch, c.na, "", "", "", "", ""]
          : [c.model + (c.staged ? " (staged)" : ""), c.batch, c.ms_per_step.toFixed(0), c.img_per_s.toFixed(2), c.gflops_per_s.toFixed(1), c.peak_fraction === null ? "n/a" : `${(c.peak_fraction * 100).toFixed(0)} %`, c.peak_rss_mb, c.first_step_ms],
      ),
    ),
  );
  if (r.s2_vs_block) {
    const v = r.s2_vs_block;
    lines.push("", `DiT-S/2 whole step vs the compiled DiT-S block forward+backward (N=8, T=256, D=384), interleaved, median of ${runs}:`);
    lines.push(
      table(
        ["", "ms", "GFLOP/s"],
        [
          ["DiT-S/2 training step", v.step_ms.toFixed(0), v.step_gflops_per_s.toFixed(1)],
          ["DiT-S block fwd+bwd", v.block_ms.toFixed(0), v.block_gflops_per_s.toFixed(1)],
        ],
      ),
    );
    lines.push(`ratio step / block GFLOP/s: ${v.ratio.toFixed(2)} (target ≥ 0.9)`);
  }
  if (r.profile) {
    const p = r.profile;
    lines.push("", "Where the DiT-S/2 step's time goes (interleaved medians, ms):");
    lines.push(
      table(
        ["part", "ms"],
        [
          ["StepRunner.step (whole)", p.runner_step.toFixed(0)],
          ["  host inputs (trainingLossInputs)", p.host_inputs.toFixed(0)],
          ["  fused graph alone", p.fused_graph.toFixed(0)],
          ["forward+backward graph alone", p.grad_graph.toFixed(0)],
          ["AdamW + EMA graph alone", p.update_graph.toFixed(0)],
        ],
      ),
    );
  }
  return lines.join("\n");
}

async function main(argv: string[]): Promise<void> {
  const val = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write("usage: npm run bench:train [-- --json] [--no-xl] [--runs N] [--profile]\n");
    return;
  }
  const runs = Math.max(5, Number(val("--runs") ?? 5));
  if (!Number.isInteger(runs)) throw new Error(`--runs must be an integer ≥ 5, got ${val("--runs")}`);
  const id = val("--case");
  if (id) {
    const c = TRAIN_CASES.find((k) => k.id === id);
    if (!c) throw new Error(`--case must be one of ${TRAIN_CASES.map((k) => k.id).join(", ")}, got ${id}`);
    const peak = val("--peak");
    const r = await runCase(c, { runs, vsBlock: argv.includes("--vs-block"), profile: argv.includes("--profile"), peakGflops: peak ? Number(peak) : null });
    process.stdout.write(JSON.stringify(r) + "\n");
    return;
  }
  const r = await benchTrain({ runs, xl: !argv.includes("--no-xl"), profile: argv.includes("--profile") });
  process.stdout.write(argv.includes("--json") ? JSON.stringify(r) + "\n" : formatTrainBench(r, runs) + "\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
