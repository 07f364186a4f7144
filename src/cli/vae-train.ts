/** `dit vae-train`: train a small AutoencoderKL from scratch on an IDX file (MNIST / Fashion-MNIST) or a folder of PNG/PGM/PPM images. */
import { Option, type Command } from "commander";
import { loadImageDataset, padToSize } from "../io/datasets.js";
import { SCALING_FACTOR } from "../vae/config.js";
import { saveVae, trainVae, TRAIN_DEFAULTS, type ReconLoss } from "../vae/train.js";
import { progressBar } from "./common.js";
import { nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber } from "./options.js";
import { log, printJson } from "./output.js";
import { checkInput, checkOutputFolder } from "./paths.js";
import { UsageError } from "./usage-error.js";

interface VaeTrainOpts {
  data: string;
  out: string;
  steps: number;
  batchSize: number;
  lr: number;
  klWeight: number;
  recon: string;
  channels: number[];
  latentChannels: number;
  layersPerBlock: number;
  normGroups?: number;
  seed: number;
  imageSize?: number;
  scalingFactor: "auto" | number;
  json?: boolean;
}

/** "auto" or a positive number. */
function scalingFactorArg(v: string): "auto" | number {
  if (v === "auto") return "auto";
  const x = v.trim() === "" ? NaN : Number(v);
  if (!(x > 0) || !Number.isFinite(x)) throw new UsageError(`--scaling-factor must be 'auto' or a positive number, got '${v}'`);
  return x;
}

function channelList(v: string): number[] {
  const xs = v.split(",").map((s) => (s.trim() === "" ? NaN : Number(s.trim())));
  if (xs.length === 0 || !xs.every((x) => Number.isSafeInteger(x) && x > 0)) throw new UsageError(`--channels must be a comma-separated list of positive integers, got '${v}'`);
  return xs;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export function registerVaeTrain(program: Command): void {
  program
    .command("vae-train")
    .description("train a small VAE (AutoencoderKL) from scratch; saves <out>/vae.safetensors (diffusers names) and <out>/config.json")
    .requiredOption("--data <path>", "an IDX image file (train-images-idx3-ubyte[.gz]), a folder holding one (e.g. /usr/share/datasets/fashion-mnist), or a folder of PNG / binary PGM/PPM images")
    .requiredOption("--out <dir>", "output folder")
    .option("--steps <n>", "optimisation steps", positiveInt("steps"), 1000)
    .option("--batch, --batch-size <n>", "images per step", positiveInt("batch-size"), 16)
    .option("--lr <x>", "Adam learning rate (betas 0.9/0.999, eps 1e-8)", positiveNumber("lr"), TRAIN_DEFAULTS.lr)
    .option("--kl-weight <x>", "weight of KL(q(z|x) ‖ N(0, I)) (summed over latent elements, mean over the batch)", nonNegativeNumber("kl-weight"), TRAIN_DEFAULTS.klWeight)
    .addOption(new Option("--recon <l1|l2>", "reconstruction loss (mean over pixels)").choices(["l1", "l2"]).default(TRAIN_DEFAULTS.recon))
    .option("--channels <list>", "block_out_channels, e.g. 32,64 (downsampling factor 2^(levels−1))", channelList, [32, 64])
    .option("--latent-channels <n>", "latent channels", positiveInt("latent-channels"), 4)
    .option("--layers-per-block <n>", "ResNet blocks per level", positiveInt("layers-per-block"), 1)
    .option("--norm-groups <n>", "GroupNorm groups (default: gcd(32, channels))", positiveInt("norm-groups"))
    .option("--image-size <n>", "pad images (centred, black) to n×n, e.g. 32 for 28×28 MNIST", positiveInt("image-size"))
    .option("--seed <n>", "seed of the initialisation, batch order and latent noise", nonNegativeInt("seed"), TRAIN_DEFAULTS.seed)
    .option("--scaling-factor <auto|x>", `latent scaling_factor saved in config.json: 'auto' = 1/std of latent samples of up to ${TRAIN_DEFAULTS.scaleImages} training images (LDM's rule; DiT's SD VAE uses ${SCALING_FACTOR})`, scalingFactorArg, "auto" as const)
    .option("--json", 'print one JSON line {"out", "steps", "loss", "recon", "kl", "scaling_factor"} on stdout')
    .action(async (opts: VaeTrainOpts) => {
      checkInput("--data", opts.data, "file or folder");
      checkOutputFolder("--out", opts.out);
      const normNumGroups = opts.normGroups ?? opts.channels.reduce(gcd, 32);
      const raw = loadImageDataset(opts.data);
      const data = opts.imageSize ? padToSize(raw, opts.imageSize) : raw;
      log(`vae-train: ${data.shape[0]} images ${data.shape.slice(1).join("×")} from ${opts.data}; channels [${opts.channels}], ${opts.layersPerBlock} layer(s)/block, ${opts.latentChannels} latent channels, ${normNumGroups} groups; scaling_factor ${opts.scalingFactor === "auto" ? `from the latents of ${Math.min(TRAIN_DEFAULTS.scaleImages, data.shape[0])} images after training` : opts.scalingFactor}`);
      const bar = progressBar("vae-train", opts.steps, opts.json);
      let res;
      try {
        res = await trainVae({
          data,
          config: { blockOutChannels: opts.channels, layersPerBlock: opts.layersPerBlock, latentChannels: opts.latentChannels, normNumGroups },
          scalingFactor: opts.scalingFactor,
          steps: opts.steps,
          batch: opts.batchSize,
          lr: opts.lr,
          klWeight: opts.klWeight,
          recon: opts.recon as ReconLoss,
          seed: opts.seed,
          onStep: () => bar.tick(),
        });
      } finally {
        bar.stop();
      }
      saveVae(opts.out, res.config, res.weights, res.sampleSize[0]);
      const { loss, recon, kl } = res.final;
      const scaling = res.config.scalingFactor;
      if (opts.json) printJson({ out: opts.out, steps: opts.steps, loss, recon, kl, scaling_factor: scaling });
      else process.stdout.write(`saved ${opts.out}/vae.safetensors and config.json after ${opts.steps} steps: loss ${loss.toFixed(5)} (recon ${recon.toFixed(5)}, kl ${kl.toFixed(3)}), scaling_factor ${scaling.toPrecision(5)}${res.latentStd !== undefined ? ` (latent std ${res.latentStd.toPrecision(4)})` : ""}\n`);
    });
}
