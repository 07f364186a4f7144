/** `dit train`: train a DiT with the official recipe (the library's `train`); this file only parses arguments and prints. */
import { join } from "node:path";
import cliProgress from "cli-progress";
import { Option, type Command } from "commander";
import { FASHION_MNIST_DIR } from "../data/dataset.js";
import { LatentDataset } from "../data/latents.js";
import { loadStateDict } from "../io/state-dict.js";
import { BLOCK_TYPES, type BlockType, type DiTConfig } from "../model/config.js";
import type { Checkpoint } from "../train/checkpoint.js";
import { loadResumeSource } from "../train/resume-source.js";
import { checkConfigForData, configForData, isLatentFile, openTrainData } from "../train/open-data.js";
import { writeSampleGrid } from "../train/sample-grid.js";
import { OFFICIAL_RECIPE, train, type LogRecord, type TrainEvalMetrics } from "../train/train.js";
import { openSampleFidEvaluator } from "../eval/sample-fid.js";
import { FEATURE_NETWORK_NAMES } from "../eval/networks.js";
import type { FeatureNetworkName } from "../eval/feature-network.js";
import { SAMPLERS, type SamplerName } from "../sample/sample.js";
import { loadConfigFile } from "./common.js";
import { modelName, nonNegativeInt, nonNegativeNumber, numberOption, positiveNumber } from "./options.js";
import { log, positiveInt, printJson } from "./output.js";
import { checkInput, checkOutputFolder } from "./paths.js";
import { UsageError } from "./usage-error.js";

interface TrainCliOpts {
  model?: string;
  config?: string;
  data: string;
  out: string;
  vae?: string;
  imageSize?: number;
  steps: number;
  batchSize: number;
  gradAccum: number;
  lr: number;
  weightDecay: number;
  emaDecay: number;
  emaWarmup?: boolean;
  ckptEvery: number;
  logEvery: number;
  sampleEvery: number;
  evalEvery: number;
  evalSamples: number;
  evalRef: string;
  evalNet: FeatureNetworkName;
  evalSampler: SamplerName;
  evalSteps?: number;
  seed: number;
  block?: string;
  resume?: boolean;
  resumeFrom?: string;
  init?: string;
  execution: "auto" | "fused" | "staged";
  json?: boolean;
}

/** A progress bar on stderr with loss, steps/s and ETA (nothing when stderr is not a terminal). */
function trainBar(total: number, start: number, quiet?: boolean) {
  if (quiet || !process.stderr.isTTY) return { update: (_s: number, _l: number) => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { format: "train [{bar}] {value}/{total} | loss {loss} | {sps} steps/s | ETA {eta_formatted}", stream: process.stderr, hideCursor: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, start, { loss: "-", sps: "-" });
  const t0 = performance.now();
  return {
    update: (step: number, loss: number) => bar.update(step, { loss: loss.toFixed(4), sps: ((step - start) / ((performance.now() - t0) / 1000)).toFixed(2) }),
    stop: () => bar.stop(),
  };
}

export function registerTrain(program: Command): void {
  const R = OFFICIAL_RECIPE;
  program
    .command("train")
    .description("train a DiT with the official recipe (AdamW, EMA, hybrid loss, label dropout); resumable, crash-safe checkpoints in <out>/checkpoints/")
    .option("--model <name>", "official config (DiT-S/2 …); input size, channels and classes follow the data", modelName)
    .option("--config <file>", "JSON of the official DiT(...) kwargs (top level or under dit_kwargs), plus 'block'")
    .option("--data <path>", "a latent file from `dit extract-latents`, a folder of IDX files, one IDX image file, or an ImageNet-layout image folder", FASHION_MNIST_DIR)
    .requiredOption("--out <dir>", "run folder: checkpoints/, log.jsonl, samples/")
    .option("--vae <path|none>", "image data: a VAE (folder or file) encoding every batch, or 'none' for pixel space; latent files name their own VAE")
    .option("--image-size <n>", "image size (IDX: padded, default 32; image folders: centre-cropped, default 256)", positiveInt("image-size"))
    .option("--steps <n>", "optimizer steps to reach", positiveInt("steps"), R.steps)
    .option("--batch-size <n>", "samples per optimizer step (train.py's global batch)", positiveInt("batch-size"), R.batchSize)
    .option("--grad-accum <k>", "micro-batches per step (gradients averaged): batch-size/k samples per forward", positiveInt("grad-accum"), R.gradAccum)
    .option("--lr <x>", "AdamW learning rate", positiveNumber("lr"), R.lr)
    .option("--weight-decay <x>", "AdamW weight decay", nonNegativeNumber("weight-decay"), R.weightDecay)
    .option("--ema-decay <x>", "EMA decay", numberOption("ema-decay", (x) => x >= 0 && x < 1, "a number in [0, 1)"), R.emaDecay)
    .option("--ema-warmup", "EMA decay min(decay, (1+s)/(10+s)) at step s, for short runs")
    .option("--ckpt-every <k>", "checkpoint every k steps (and at the end)", positiveInt("ckpt-every"), R.ckptEvery)
    .option("--log-every <k>", "log line every k steps", positiveInt("log-every"), R.logEvery)
    .option("--sample-every <k>", "EMA sample grid (<out>/samples/NNNNNNN.png) every k steps; 0 = never", nonNegativeInt("sample-every"), R.sampleEvery)
    .option("--eval-every <k>", "every k steps, sample --eval-samples images with the EMA weights and log their FID (FID-FMNIST with the fmnist network) in log.jsonl; 0 = never", nonNegativeInt("eval-every"), 0)
    .option("--eval-samples <n>", "images per evaluation (the same noise and balanced labels every time)", positiveInt("eval-samples"), 1000)
    .option("--eval-ref <path>", "reference for --eval-every: statistics from `dit fid-stats` (.npz) or a dataset (its test split; statistics cached)", FASHION_MNIST_DIR)
    .addOption(new Option("--eval-net <name>", "feature network for --eval-every").choices([...FEATURE_NETWORK_NAMES]).default("fmnist"))
    .addOption(new Option("--eval-sampler <name>", "sampler for --eval-every (no guidance)").choices([...SAMPLERS]).default("dpm++"))
    .option("--eval-steps <n>", "sampler steps for --eval-every (default: 25 for dpm++, 50 ddim, 250 ddpm)", positiveInt("eval-steps"))
    .option("--seed <n>", "seed of the initialisation and of every random draw", nonNegativeInt("seed"), R.seed)
    .addOption(new Option("--block <type>", "conditioning block").choices([...BLOCK_TYPES]))
    .addOption(new Option("--execution <mode>", "one graph per step (fused), or block by block recomputing activations in backward (staged, for models too big for one graph); auto picks from memory").choices(["auto", "fused", "staged"]).default("auto"))
    .option("--resume", "continue from the newest checkpoint in <out> (starts at step 0 when there is none)")
    .option("--resume-from <file>", "continue from a checkpoint of another run: dit-ts .safetensors, or an official train.py .pt (model, EMA, AdamW moments)")
    .option("--init <file>", "fine-tune from these weights (safetensors or official .pt; the label table is resized to the data's classes)")
    .option("--json", 'print one JSON line {"out", "step", "checkpoint", "loss", "stopped"} on stdout')
    .action(async (o: TrainCliOpts) => {
      if (o.model && o.config) throw new UsageError("give --model or --config, not both");
      if (o.batchSize % o.gradAccum !== 0) throw new UsageError(`--batch-size ${o.batchSize} must be a multiple of --grad-accum ${o.gradAccum}`);
      checkInput("--config", o.config, "file");
      checkInput("--data", o.data, "file or folder");
      if (o.vae !== "none") checkInput("--vae", o.vae, "file or folder");
      checkInput("--resume-from", o.resumeFrom, "file");
      checkInput("--init", o.init, "file");
      if (o.evalEvery > 0) checkInput("--eval-ref", o.evalRef, "file or folder");
      checkOutputFolder("--out", o.out);
      const configFile = o.config ? loadConfigFile(o.config) : undefined; // a bad config fails before the data is opened
      let vae = o.vae;
      if (isLatentFile(o.data)) {
        const src = LatentDataset.open(o.data).header.vaeSource;
        if (vae === undefined && src) vae = src; // for sample grids and `dit sample --ckpt`
      }
      const data = openTrainData(o.data, { vae: isLatentFile(o.data) ? undefined : vae, imageSize: o.imageSize });
      log(`train: data ${data.description}`);
      const overrides: Partial<DiTConfig> = o.block ? { block: o.block as BlockType } : {};
      let config: DiTConfig | undefined;
      if (configFile) config = checkConfigForData({ ...configFile, ...overrides }, data);
      else if (o.model) config = configForData(o.model, data, overrides);
      let resumeFrom: Checkpoint | undefined;
      if (o.resumeFrom) {
        resumeFrom = loadResumeSource(o.resumeFrom, config);
        config = checkConfigForData(resumeFrom.config, data);
        log(`train: continuing ${o.resumeFrom} at step ${resumeFrom.state.step}`);
      }
      if (config === undefined) {
        throw new UsageError("name the model: --model DiT-S/2 or --config FILE");
      }
      log(`train: ${o.model ?? o.config ?? o.resumeFrom} → input ${config.inputSize}×${config.inputSize}×${config.inChannels}, patch ${config.patchSize}, hidden ${config.hiddenSize}, depth ${config.depth}, heads ${config.numHeads}, ${config.numClasses} classes, ${config.block}`);
      log(`train: ${o.steps} steps of ${o.batchSize}${o.gradAccum > 1 ? ` (${o.gradAccum} × ${o.batchSize / o.gradAccum})` : ""}, AdamW lr ${o.lr}, EMA ${o.emaDecay}${o.emaWarmup ? " (warm-up)" : ""}, seed ${o.seed}; checkpoints every ${o.ckptEvery} in ${join(o.out, "checkpoints")}`);
      if (o.sampleEvery > 0 && vae === undefined && config.inChannels !== 1 && config.inChannels !== 3) {
        throw new UsageError(`--sample-every decodes the EMA model's latents with the VAE, and ${o.data} names none: pass --vae PATH (or --sample-every 0)`);
      }
      if (o.evalEvery > 0 && vae === undefined && config.inChannels !== 1 && config.inChannels !== 3) {
        throw new UsageError(`--eval-every decodes the EMA model's latents with the VAE, and ${o.data} names none: pass --vae PATH (or --eval-every 0)`);
      }
      let evaluator: Awaited<ReturnType<typeof openSampleFidEvaluator>> | undefined;
      if (o.evalEvery > 0) {
        evaluator = await openSampleFidEvaluator({ net: o.evalNet, ref: o.evalRef, numSamples: o.evalSamples, vae: vae ?? "none", sampler: o.evalSampler, steps: o.evalSteps, seed: o.seed });
        log(`train: every ${o.evalEvery} steps, FID (${o.evalNet}) of ${o.evalSamples} EMA samples (${o.evalSampler}, no guidance) against ${evaluator.reference}`);
      }
      const init = o.init ? loadStateDict(o.init) : undefined;
      const ctrl = new AbortController();
      const onSigint = () => {
        if (ctrl.signal.aborted) process.exit(130);
        log("\ntrain: interrupted; writing a checkpoint after this step (Ctrl-C again to quit at once)");
        ctrl.abort();
      };
      process.on("SIGINT", onSigint);
      let bar: ReturnType<typeof trainBar> | undefined;
      let lastLoss = NaN;
      try {
        const r = await train({
          config,
          data,
          out: o.out,
          vae,
          steps: o.steps,
          batchSize: o.batchSize,
          gradAccum: o.gradAccum,
          lr: o.lr,
          weightDecay: o.weightDecay,
          emaDecay: o.emaDecay,
          emaWarmup: !!o.emaWarmup,
          ckptEvery: o.ckptEvery,
          logEvery: o.logEvery,
          sampleEvery: o.sampleEvery,
          seed: o.seed,
          resume: !!o.resume,
          resumeFrom,
          init,
          args: { model: o.model ?? null, config: o.config ?? null, data: o.data, vae: vae ?? null },
          signal: ctrl.signal,
          execution: o.execution,
          onInfo: log,
          evalEvery: o.evalEvery,
          evaluate: evaluator ? async (ema, step, cfg): Promise<TrainEvalMetrics> => {
            const r = await evaluator!.evaluate(ema, cfg);
            log(`\ntrain: step ${step}: FID (${r.eval_net}) ${r.fid.toFixed(2)} of ${r.eval_samples} samples${r.class_accuracy !== undefined ? `, class accuracy ${(100 * r.class_accuracy).toFixed(1)} %` : ""}`);
            return r;
          } : undefined,
          onStep: (step, stats) => {
            bar ??= trainBar(o.steps, step - 1, o.json);
            lastLoss = Number.isNaN(lastLoss) ? stats.loss : 0.9 * lastLoss + 0.1 * stats.loss;
            bar.update(step, lastLoss);
          },
          onLog: (rec: LogRecord) => {
            if (!process.stderr.isTTY && !o.json) log(`step ${rec.step}  loss ${rec.loss.toFixed(4)}  mse ${rec.mse.toFixed(4)}  vb ${rec.vb.toFixed(4)}  grad-norm ${rec.grad_norm.toFixed(3)}  ${rec.img_per_s.toFixed(1)} img/s`);
          },
          onSample: async (ema, step) => {
            const path = join(o.out, "samples", `${String(step).padStart(7, "0")}.png`);
            try {
              await writeSampleGrid(ema, path, { config, classNames: data.classNames, vae: vae ?? "none", seed: o.seed });
            } catch (e) {
              log(`\ntrain: warning: no sample grid at step ${step} (${e instanceof Error ? e.message : String(e)}); training goes on`);
            }
          },
        });
        bar?.stop();
        if (o.json) printJson({ out: o.out, step: r.step, checkpoint: r.checkpoint, loss: r.last?.loss ?? null, stopped: r.stopped });
        else process.stdout.write(`${r.stopped ? "stopped" : "done"} at step ${r.step}: ${r.checkpoint}${r.last ? ` (loss ${r.last.loss.toFixed(4)})` : ""}\n`);
        if (r.stopped) process.exitCode = 130;
      } finally {
        bar?.stop();
        process.removeListener("SIGINT", onSigint);
        await evaluator?.net.dispose();
      }
    });
}
