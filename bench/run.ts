/**
 * `npm run bench`: speed tables. Medians of ≥ 5 runs after a warm-up, on this
 * machine; compare ratios measured in the same run only.
 *
 *   npm run bench                 all benchmarks
 *   npm run bench -- --no-eager   skip the (slow) jax-js eager rows
 *   npm run bench -- --no-models  skip the whole-model rows
 *   npm run bench -- --no-vae     skip the VAE rows
 *   npm run bench -- --no-train   skip the training-step rows (bench/train.ts)
 *   npm run bench -- --no-xl      skip the DiT-XL/2 staged training step (≈ 11 GB of state)
 *   npm run bench -- --json       one JSON line on stdout
 */
import { cpus } from "node:os";
import { initJax } from "../src/runtime/jax.js";
import { benchModel, table, type ModelBenchResult } from "../src/index.js";
import { BLOCK_CASES, benchBlock, type BlockRow } from "./blocks.js";
import { benchTrain, formatTrainBench, type TrainBenchResult } from "./train.js";
import { benchVae, type VaeRow } from "./vae.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const eager = !args.includes("--no-eager");
const models = !args.includes("--no-models");
const vae = !args.includes("--no-vae");
const train = !args.includes("--no-train");
const runs = 5;

await initJax();
const machine = `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, Node ${process.version}`;
process.stderr.write(`machine: ${machine}\n`);

const rows: BlockRow[] = [];
for (const bc of BLOCK_CASES) {
  process.stderr.write(`benchmarking ${bc.name} (N=${bc.N}, T=${bc.T}, D=${bc.D})…\n`);
  rows.push(...(await benchBlock(bc, { eager, runs })));
}

// Whole models, forward, random weights, 256×256 (latent 32×32×4), block by block.
const modelRows: ModelBenchResult[] = [];
if (models) {
  for (const name of ["DiT-S/2", "DiT-B/2", "DiT-XL/2"]) {
    for (const batch of [1, 8]) {
      process.stderr.write(`benchmarking ${name} forward, batch ${batch}…\n`);
      modelRows.push(await benchModel(name, { batch, runs }));
    }
  }
}

const vaeRows: VaeRow[] = [];
if (vae) {
  process.stderr.write("benchmarking the SD VAE (full size, random weights)…\n");
  vaeRows.push(...(await benchVae(runs)));
}

// Training steps (each case in its own process, with the FMA peak measured first).
let trainResult: TrainBenchResult | undefined;
if (train) trainResult = await benchTrain({ runs, xl: !args.includes("--no-xl") });

const get = (c: string, pass: string, path: string) => rows.find((r) => r.case === c && r.pass === pass && r.path === path);
const ratios = BLOCK_CASES.map((bc) => {
  const comp = get(bc.name, "forward", "compiled")!;
  const nat = get(bc.name, "forward", "native ONNX")!;
  const eagerFb = get(bc.name, "forward+backward", "jax-js eager");
  const compFb = get(bc.name, "forward+backward", "compiled")!;
  return {
    case: bc.name,
    forwardVsNative: comp.ms / nat.ms,
    fwdBwdSpeedupVsEager: eagerFb ? eagerFb.ms / compFb.ms : null,
  };
});

if (json) {
  process.stdout.write(JSON.stringify({ machine, blocks: rows, ratios, models: modelRows, vae: vaeRows, train: trainResult ?? null }) + "\n");
} else {
  console.log(`\nDiT blocks (median of ${runs} after warm-up; ${machine})\n`);
  console.log(table(["block", "pass", "path", "ms", "GFLOP/s"], rows.map((r) => [r.case, r.pass, r.path, r.ms.toFixed(1), r.gflopsPerS.toFixed(1)])));
  console.log("");
  console.log(
    table(
      ["block", "compiled fwd / native fwd (target ≤ 1.15)", "eager fwd+bwd / compiled fwd+bwd (target ≥ 3)"],
      ratios.map((r) => [r.case, r.forwardVsNative.toFixed(2), r.fwdBwdSpeedupVsEager?.toFixed(2) ?? "skipped"]),
    ),
  );
  if (modelRows.length) {
    console.log(`\nWhole models, forward at 256×256 (median of ${runs} after warm-up)\n`);
    console.log(
      table(
        ["model", "batch", "ms", "GFLOP/s", "peak RSS MB"],
        modelRows.map((r) => [r.model, r.batch, r.median_ms.toFixed(1), r.gflops_per_s.toFixed(1), r.peak_rss_mb]),
      ),
    );
  }
  if (vaeRows.length) {
    console.log(`\nStable Diffusion VAE, full size, batch 1 (median of ${runs} after warm-up)\n`);
    console.log(table(["pass", "ms", "peak RSS MB"], vaeRows.map((r) => [r.pass, r.ms.toFixed(0), r.peakRssMb])));
  }
  if (trainResult) console.log("\n" + formatTrainBench(trainResult, runs));
}
