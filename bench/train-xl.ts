/**
 * Peak memory and time of training steps of a big DiT (default: DiT-XL/2 at
 * 256×256, i.e. 32×32×4 latents, batch 2, block by block), random weights:
 *
 *   node --import tsx bench/train-xl.ts [--model DiT-XL/2] [--batch 2] [--execution staged|fused] [--steps 2]
 *
 * Prints one JSON line: { model, batch, execution, ms_per_step (median of
 * the steps after the first, or the first when there is one), first_step_ms,
 * peak_rss_gb (process.resourceUsage().maxRSS), state_gb (weights + Adam
 * moments + EMA), estimate_gb (what `estimateStepBytes` predicts) }; "gb"
 * are GiB (2³⁰ bytes). The target: DiT-XL/2 batch 2 trains at peak
 * RSS ≤ 18 GB. Measured here (2 shared cores, 24 GB): 12.42 GiB peak, 87.5 s
 * a step (the first, compiling the graphs, 226 s).
 *
 * On a shared machine this process volunteers as the OOM killer's first
 * choice, and a watchdog stops it (exit 3, JSON with "error") when the
 * machine's available memory falls under 0.5 GiB.
 */
import { writeFileSync } from "node:fs";
import { freemem } from "node:os";
import { performance } from "node:perf_hooks";
import { createDiffusion } from "../src/diffusion/index.js";
import { cloneStateDict } from "../src/io/state-dict.js";
import { officialConfig } from "../src/model/config.js";
import { initParams } from "../src/model/params.js";
import { initJax } from "../src/runtime/jax.js";
import { Tensor } from "../src/runtime/tensor.js";
import { createStepRunner, estimateStepBytes, type Execution } from "../src/train/execution.js";
import { trainedNames, zeroMoments, type MicroBatch } from "../src/train/runner.js";
import type { TrainState } from "../src/train/state.js";
import { Rng } from "../src/util/rng.js";

const HELP = `usage: node --import tsx bench/train-xl.ts [--model DiT-XL/2] [--batch 2] [--execution staged|fused] [--steps 2]
Times training steps (random weights, 32×32×4 latents) and prints {model, batch, execution, ms_per_step, peak_rss_gb} as one JSON line.`;

function args(argv: string[]) {
  const o = { model: "DiT-XL/2", batch: 2, execution: "staged" as Exclude<Execution, "auto">, steps: 2 };
  for (let i = 0; i < argv.length; i++) {
    const [k, v] = [argv[i]!, argv[i + 1]];
    if (k === "--help" || k === "-h") {
      console.log(HELP);
      process.exit(0);
    }
    if (v === undefined) throw new Error(`${k} needs a value\n${HELP}`);
    if (k === "--model") o.model = v;
    else if (k === "--batch") o.batch = Number(v);
    else if (k === "--steps") o.steps = Number(v);
    else if (k === "--execution" && (v === "staged" || v === "fused")) o.execution = v;
    else throw new Error(`unknown or bad option ${k} ${v}\n${HELP}`);
    i++;
  }
  if (!(Number.isInteger(o.batch) && o.batch > 0 && Number.isInteger(o.steps) && o.steps > 0)) throw new Error(`--batch and --steps must be positive integers\n${HELP}`);
  return o;
}

const GB = 2 ** 30;
const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;

async function main(): Promise<void> {
  const o = args(process.argv.slice(2));
  try {
    writeFileSync("/proc/self/oom_score_adj", "1000"); // if memory runs out, this process goes first
  } catch {
    // not Linux, or not allowed: the watchdog alone
  }
  const watchdog = setInterval(() => {
    if (freemem() < GB / 2) {
      console.log(JSON.stringify({ model: o.model, batch: o.batch, execution: o.execution, error: "stopped: under 0.5 GiB of memory left on the machine", peak_rss_gb: round(process.resourceUsage().maxRSS / 2 ** 20, 2) }));
      process.exit(3);
    }
  }, 200);
  watchdog.unref();
  await initJax();
  const config = officialConfig(o.model, { inputSize: 32 });
  const model = initParams(config, 0);
  const names = trainedNames(config);
  const state: TrainState = { step: 0, model, ema: cloneStateDict(model), adam: { step: 0, ...zeroMoments(model, names) } };
  const stateBytes = [model, state.ema, state.adam.expAvg, state.adam.expAvgSq].reduce((s, d) => s + [...d.values()].reduce((a, t) => a + t.data.byteLength, 0), 0);
  const adamw = { lr: 1e-4, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0 };
  const runner = createStepRunner(o.execution, config, createDiffusion(""), adamw, state);
  const rng = new Rng(1);
  const n = o.batch * config.inChannels * 32 * 32;
  const shape = [o.batch, config.inChannels, 32, 32];
  const times: number[] = [];
  try {
    for (let s = 0; s < o.steps; s++) {
      const b: MicroBatch = { x: new Tensor(rng.normals(n), shape), t: rng.ints(o.batch, 1000), noise: new Tensor(rng.normals(n), shape), y: rng.ints(o.batch, config.numClasses) };
      const t0 = performance.now();
      const st = await runner.step([b], adamw.lr, 0.9999);
      times.push(performance.now() - t0);
      if (!Number.isFinite(st.loss)) throw new Error(`step ${s}: loss ${st.loss}`);
      console.error(`step ${s + 1}/${o.steps}: ${(times[s]! / 1000).toFixed(1)} s, loss ${st.loss.toFixed(4)}, peak RSS ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GB`);
    }
  } finally {
    await runner.dispose();
  }
  const later = times.slice(1).sort((a, b) => a - b);
  const ms = later.length ? later[Math.floor(later.length / 2)]! : times[0]!;
  console.log(
    JSON.stringify({
      model: o.model,
      batch: o.batch,
      execution: o.execution,
      ms_per_step: Math.round(ms),
      first_step_ms: Math.round(times[0]!),
      peak_rss_gb: round(process.resourceUsage().maxRSS / 2 ** 20, 2), // maxRSS is in KiB
      state_gb: round(stateBytes / GB, 2),
      estimate_gb: round(estimateStepBytes(config, o.batch, o.execution) / GB, 2),
    }),
  );
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
