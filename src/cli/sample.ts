/**
 * `dit sample`: generate images with a DiT (the bundled Fashion-MNIST model by default) → PNG grid, PNGs, optional .npz;
 * sharded sets (--shard i/n | auto, --workers k) and their merge (--merge DIR --npz out.npz).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { Option, type Command } from "commander";
import { BUNDLED_MODEL_DIR } from "../sample/model-source.js";
import { writeSampleOutputs } from "../sample/outputs.js";
import { DEFAULT_STEPS, planSample, runSamplePlan, SAMPLERS, type SamplePlan, type SamplerName } from "../sample/sample.js";
import { SampleError } from "../sample/errors.js";
import { mergeShards, missingImages } from "../sample/merge.js";
import { runShardPlan } from "../sample/shard.js";
import { ensureShardManifest, shardManifest } from "../sample/shard-manifest.js";
import { parseShard, SHARD_COUNT_ENV, type ShardSpec } from "../sample/shard-spec.js";
import { runShardWorkers } from "../sample/workers.js";
import { loadConfigFile, progressBar } from "./common.js";
import { integer, modelName, numberOption } from "./options.js";
import { log, positiveInt, printJson } from "./output.js";
import { checkInput, checkOutputFile, checkOutputFolder } from "./paths.js";

interface SampleCliOpts {
  ckpt?: string;
  model?: string;
  config?: string;
  vae?: string;
  class?: string[];
  numSamples?: number;
  cfgScale?: number;
  cfgMode: "official" | "standard";
  sampler?: SamplerName;
  numSamplingSteps?: number;
  seed: number;
  batchSize: number;
  imageSize?: number;
  out: string;
  npz?: string;
  json?: boolean;
  shard?: string;
  workers?: number;
  merge?: string;
  verifyCrc: boolean;
}

export function registerSample(program: Command): void {
  program
    .command("sample")
    .description(
      "generate images with a DiT: a PNG grid (rows = classes) and one PNG per image in --out. Without --ckpt it samples the bundled Fashion-MNIST model; " +
        "with no arguments at all, 4 images of each of its 10 classes with DPM-Solver++ (25 steps) into samples/",
    )
    .option("--ckpt <path>", "checkpoint: dit train's checkpoints/NNNNNNN.safetensors (EMA weights), a model .safetensors or folder, an official DiT-XL-2-256x256.pt / 512, or diffusers DiT weights (pipeline or transformer folder)")
    .option("--model <name>", "official architecture when the checkpoint has no config (e.g. DiT-XL/2 for the official .pt)", modelName)
    .option("--config <file>", "JSON model config (official DiT kwargs, top level or under dit_kwargs); overrides the checkpoint's")
    .option("--vae <path|none>", "VAE folder (config.json + weights) or weights file (diffusers/CompVis names; SD VAE config unless a config.json is beside it), or 'none' for pixel-space models; default: the one the checkpoint names or ships beside it")
    .option("--class <k...>", "class ids or names (the checkpoint's own class names, else ImageNet's); labels cycle through them. Default: random labels over all classes (sample_ddp.py), or every class of a model with ≤ 16")
    .option("--num-samples <n>", "total images (default: 4 per given class)", positiveInt("num-samples"))
    .option("--cfg-scale <x>", "classifier-free guidance scale, ≥ 1 (default 4.0 as sample.py; 1 = no guidance)", numberOption("cfg-scale", (x) => x >= 1, "a number ≥ 1 (1 = no guidance)"))
    .addOption(new Option("--cfg-mode <mode>", "guidance on the first 3 channels as the official code, or on all channels").choices(["official", "standard"]).default("official"))
    .addOption(new Option("--sampler <name>", "sampler (default: dpm++ for the bundled model, ddpm as sample.py with --ckpt)").choices([...SAMPLERS]))
    .option("--num-sampling-steps <n>", `sampler steps (default: ddpm ${DEFAULT_STEPS.ddpm} as sample.py, ddim ${DEFAULT_STEPS.ddim}, dpm++ ${DEFAULT_STEPS["dpm++"]} on log-SNR steps)`, positiveInt("num-sampling-steps"))
    .option("--seed <s>", "seed: image i's noise comes from its own stream seeded by (seed, i), the same whatever the batch size", integer("seed"), 0)
    .option("--batch-size <b>", "images per model call (guidance doubles it)", positiveInt("batch-size"), 16)
    .option("--image-size <n>", "expected image side (checked against the model and VAE)", positiveInt("image-size"))
    .option("--out <dir>", "output folder; a run replaces only the files its previous run wrote there", "samples")
    .option("--npz <file>", "also write the ADM evaluation .npz: arr_0, uint8, N×H×W×3")
    .option("--json", "print one JSON line {grid, images, npz, labels, …} on stdout")
    .option("--no-verify-crc", "skip the CRC-32 check of .pt zip records (faster; a corrupt file may load)")
    .option(
      "--shard <i/n|auto|auto/n>",
      "make only shard i of n (from 0): the images k ≡ i (mod n), named by k, into the --out folder all shards share; images already there are skipped (a killed shard resumes), " +
        `and a shard with other settings than the folder's manifest is refused. auto: from a Kubernetes Indexed Job (JOB_COMPLETION_INDEX; the count from auto/n or ${SHARD_COUNT_ENV}) or a Slurm array (SLURM_ARRAY_TASK_ID/COUNT)`,
    )
    .option("--workers <k>", "run k local processes (shards 0..k−1 of k) into --out and wait for them; with --npz, merge when all are done", positiveInt("workers"))
    .option("--merge <dir>", "check that the sharded set in <dir> is complete (naming missing images) and write --npz (arr_0 images, arr_1 labels)")
    .action(async (opts: SampleCliOpts) => {
      checkOutputFile("--npz", opts.npz);
      if (opts.merge !== undefined) return merge(opts);
      checkInput("--ckpt", opts.ckpt, "file or folder");
      checkInput("--config", opts.config, "file");
      if (opts.vae !== "none") checkInput("--vae", opts.vae, "file or folder");
      checkOutputFolder("--out", opts.out);
      const shardSpec = opts.shard !== undefined ? parseShard(opts.shard) : undefined; // a bad --shard fails before the model loads
      if (opts.shard !== undefined && opts.workers !== undefined) throw new SampleError("give --shard or --workers, not both (--workers k runs shards 0..k−1 of k itself)");
      if (opts.shard !== undefined && opts.npz) throw new SampleError("--npz with --shard: a shard makes part of the set; when all shards are done, run dit sample --merge DIR --npz FILE");
      if (opts.model && opts.config) throw new SampleError("give --model or --config, not both");
      let ckpt = opts.ckpt;
      if (!ckpt) {
        if (!existsSync(join(BUNDLED_MODEL_DIR, "dit.safetensors"))) throw new SampleError(`the bundled model is missing (${join(BUNDLED_MODEL_DIR, "dit.safetensors")}); give --ckpt`);
        ckpt = BUNDLED_MODEL_DIR;
      }
      const sampler = opts.sampler ?? (opts.ckpt ? "ddpm" : "dpm++");
      const plan = await planSample({
        model: ckpt,
        modelName: opts.model,
        config: opts.config ? loadConfigFile(opts.config) : undefined,
        verifyCrc: opts.verifyCrc,
        vae: opts.vae,
        classes: opts.class,
        numSamples: opts.numSamples,
        cfgScale: opts.cfgScale,
        cfgMode: opts.cfgMode,
        sampler,
        numSamplingSteps: opts.numSamplingSteps,
        seed: opts.seed,
        batchSize: opts.batchSize,
        imageSize: opts.imageSize,
      });
      const n = plan.labels.length;
      const [H, W, C] = plan.image;
      if (shardSpec !== undefined) return shard(plan, shardSpec, opts);
      if (opts.workers !== undefined) return workers(plan, opts);
      log(`sample: ${n} images ${H}×${W}×${C} from ${plan.model.path ?? ckpt} (${plan.model.format}), ${plan.sampler} ${plan.steps} steps, cfg ${plan.cfgScale}${plan.guided ? ` (${plan.cfgMode})` : ""}, seed ${plan.seed}`);
      const bar = progressBar("sample", Math.ceil(n / plan.batchSize) * plan.diffusion.numTimesteps, opts.json);
      let result;
      let done = 0;
      try {
        result = await runSamplePlan(plan, (p) => {
          bar.tick(p.step - done);
          done = p.step;
        });
      } finally {
        bar.stop();
      }
      const written = writeSampleOutputs(result, opts.out, { npz: opts.npz });
      const name = (k: number) => result.classNames?.[k] ?? String(k);
      if (opts.json) {
        printJson({ grid: written.grid, images: written.images, npz: written.npz ?? null, labels: Array.from(result.labels), classes: result.classes ?? null, sampler: result.sampler, steps: result.steps, cfg_scale: result.cfgScale, seed: result.seed, removed: written.removed.length });
      } else {
        const rows = result.classes ? ` (rows: ${result.classes.map(name).join(", ")})` : "";
        process.stdout.write(`wrote the grid to ${relative(process.cwd(), written.grid) || written.grid}${rows} and ${n} images to ${relative(process.cwd(), written.dir) || "."}/${written.npz ? `; npz ${written.npz}` : ""}\n`);
      }
    });
}

/** `--shard`: one shard into the shared --out folder, with a progress bar over its images. */
async function shard(plan: SamplePlan, spec: ShardSpec, opts: SampleCliOpts): Promise<void> {
  const n = plan.labels.length;
  const [H, W, C] = plan.image;
  const mine = Math.max(0, Math.ceil((n - spec.index) / spec.count));
  log(`sample: shard ${spec.index}/${spec.count} (${mine} of ${n} images ${H}×${W}×${C}) into ${opts.out}, ${plan.sampler} ${plan.steps} steps, cfg ${plan.cfgScale}${plan.guided ? ` (${plan.cfgMode})` : ""}, seed ${plan.seed}`);
  const bar = progressBar(`shard ${spec.index}/${spec.count}`, mine, opts.json);
  let shown = 0;
  let r;
  try {
    r = await runShardPlan(plan, { ...spec, dir: opts.out }, (p) => {
      bar.tick(p.done - shown);
      shown = p.done;
    });
  } finally {
    bar.stop();
  }
  const left = missingImages(r.dir).length;
  if (opts.json) {
    printJson({ dir: r.dir, shard: `${spec.index}/${spec.count}`, images: r.indices.length, written: r.written.length, skipped: r.skipped.length, created_manifest: r.createdManifest, set_missing: left });
  } else {
    const where = relative(process.cwd(), r.dir) || ".";
    process.stdout.write(`shard ${spec.index}/${spec.count}: wrote ${r.written.length} images to ${where}/${r.skipped.length > 0 ? ` (${r.skipped.length} were already there)` : ""}; the set has ${n - left} of ${n}${left === 0 ? `: complete, merge with dit sample --merge ${where} --npz FILE` : ""}\n`);
  }
}

/** `--workers k`: k child processes of this command, shards 0..k−1 of k; a progress bar over the whole set; then --npz merges. */
async function workers(plan: SamplePlan, opts: SampleCliOpts): Promise<void> {
  const k = opts.workers!;
  const n = plan.labels.length;
  const dir = opts.out;
  mkdirSync(dir, { recursive: true });
  ensureShardManifest(dir, shardManifest(plan)); // refuse other settings before starting anyone
  log(`sample: ${n} images with ${k} workers into ${dir}, ${plan.sampler} ${plan.steps} steps, cfg ${plan.cfgScale}${plan.guided ? ` (${plan.cfgMode})` : ""}, seed ${plan.seed}`);
  // the workers get this run's settings as resolved here (paths stay relative to the same working directory)
  const base = ["sample", "--ckpt", opts.ckpt ?? BUNDLED_MODEL_DIR, "--sampler", plan.sampler, "--num-sampling-steps", String(plan.steps), "--cfg-scale", String(plan.cfgScale), "--cfg-mode", plan.cfgMode];
  base.push("--seed", String(plan.seed), "--batch-size", String(plan.batchSize), "--num-samples", String(n), "--out", dir, "--json");
  if (opts.ckpt && opts.model) base.push("--model", opts.model);
  if (opts.config) base.push("--config", opts.config);
  if (opts.vae) base.push("--vae", opts.vae);
  if (!opts.verifyCrc) base.push("--no-verify-crc");
  if (plan.classes) base.push("--class", ...plan.classes.map(String));
  const bar = progressBar("sample", n, opts.json);
  let shown = n - missingImages(dir).length;
  bar.tick(shown);
  const poll = setInterval(() => {
    const done = n - missingImages(dir).length;
    bar.tick(done - shown);
    shown = done;
  }, 500);
  try {
    await runShardWorkers({ count: k, args: (i) => [...process.execArgv, process.argv[1]!, ...base, "--shard", `${i}/${k}`], onLine: opts.json ? () => undefined : undefined });
  } finally {
    clearInterval(poll);
    bar.stop();
  }
  const merged = opts.npz ? mergeShards(dir, opts.npz) : undefined;
  if (opts.json) printJson({ dir: resolve(dir), workers: k, images: n, npz: merged?.npz ?? null });
  else process.stdout.write(`${k} workers wrote ${n} images to ${relative(process.cwd(), resolve(dir)) || "."}/${merged ? `; npz ${merged.npz}` : ""}\n`);
}

/** `--merge DIR --npz FILE`: check the sharded set is complete, then write the .npz. */
function merge(opts: SampleCliOpts): void {
  if (!opts.npz) throw new SampleError("--merge DIR needs --npz FILE (the .npz to write)");
  if (opts.shard !== undefined || opts.workers !== undefined) throw new SampleError("--merge combines finished shards: give it without --shard or --workers");
  checkInput("--merge", opts.merge, "folder");
  const r = mergeShards(opts.merge!, opts.npz);
  if (opts.json) printJson({ npz: r.npz, shape: r.shape, labels: Array.from(r.labels), dir: r.dir });
  else process.stdout.write(`merged ${r.shape[0]} images ${r.shape[1]}×${r.shape[2]} from ${relative(process.cwd(), r.dir) || "."}/ into ${r.npz} (arr_0 images, arr_1 labels)\n`);
}
