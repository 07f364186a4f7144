/** `dit sample`: generate images with a DiT (the bundled Fashion-MNIST model by default) → PNG grid, PNGs, optional .npz. */
import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { Option, type Command } from "commander";
import { BUNDLED_MODEL_DIR } from "../sample/model-source.js";
import { writeSampleOutputs } from "../sample/outputs.js";
import { DEFAULT_STEPS, planSample, runSamplePlan, SAMPLERS, type SamplerName } from "../sample/sample.js";
import { SampleError } from "../sample/errors.js";
import { loadConfigFile, progressBar } from "./common.js";
import { log, positiveInt, printJson } from "./output.js";

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
}

function number(name: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n)) throw new Error(`--${name} must be a number, got '${v}'`);
    return n;
  };
}

function integer(name: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isInteger(n)) throw new Error(`--${name} must be an integer, got '${v}'`);
    return n;
  };
}

export function registerSample(program: Command): void {
  program
    .command("sample")
    .description(
      "generate images with a DiT: a PNG grid (rows = classes) and one PNG per image in --out. Without --ckpt it samples the bundled Fashion-MNIST model; " +
        "with no arguments at all, 4 images of each of its 10 classes with DPM-Solver++ (25 steps) into samples/",
    )
    .option("--ckpt <path>", "checkpoint: dit train's checkpoints/NNNNNNN.safetensors (EMA weights), a model .safetensors or folder, an official DiT-XL-2-256x256.pt / 512, or diffusers DiT weights (pipeline or transformer folder)")
    .option("--model <name>", "official architecture when the checkpoint has no config (e.g. DiT-XL/2 for the official .pt)")
    .option("--config <file>", "JSON model config (official DiT kwargs, top level or under dit_kwargs); overrides the checkpoint's")
    .option("--vae <path|none>", "VAE folder (config.json + weights) or weights file (diffusers/CompVis names; SD VAE config unless a config.json is beside it), or 'none' for pixel-space models; default: the one the checkpoint names or ships beside it")
    .option("--class <k...>", "class ids or names (the checkpoint's own class names, else ImageNet's); labels cycle through them. Default: random labels over all classes (sample_ddp.py), or every class of a model with ≤ 16")
    .option("--num-samples <n>", "total images (default: 4 per given class)", positiveInt("num-samples"))
    .option("--cfg-scale <x>", "classifier-free guidance scale, ≥ 1 (default 4.0 as sample.py; 1 = no guidance)", number("cfg-scale"))
    .addOption(new Option("--cfg-mode <mode>", "guidance on the first 3 channels as the official code, or on all channels").choices(["official", "standard"]).default("official"))
    .addOption(new Option("--sampler <name>", "sampler (default: dpm++ for the bundled model, ddpm as sample.py with --ckpt)").choices([...SAMPLERS]))
    .option("--num-sampling-steps <n>", `sampler steps (default: ddpm ${DEFAULT_STEPS.ddpm} as sample.py, ddim ${DEFAULT_STEPS.ddim}, dpm++ ${DEFAULT_STEPS["dpm++"]} on log-SNR steps)`, positiveInt("num-sampling-steps"))
    .option("--seed <s>", "seed: image i's noise comes from its own stream seeded by (seed, i), the same whatever the batch size", integer("seed"), 0)
    .option("--batch-size <b>", "images per model call (guidance doubles it)", positiveInt("batch-size"), 16)
    .option("--image-size <n>", "expected image side (checked against the model and VAE)", positiveInt("image-size"))
    .option("--out <dir>", "output folder; a run replaces only the files its previous run wrote there", "samples")
    .option("--npz <file>", "also write the ADM evaluation .npz: arr_0, uint8, N×H×W×3")
    .option("--json", "print one JSON line {grid, images, npz, labels, …} on stdout")
    .action(async (opts: SampleCliOpts) => {
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
