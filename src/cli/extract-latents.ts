/** `dit extract-latents`: run a VAE encoder once over a dataset and store every image's (and mirror image's) latent distribution in one file. */
import { Option, type Command } from "commander";
import { FASHION_MNIST_DIR, openImageSource, type Split } from "../data/dataset.js";
import { extractLatents } from "../data/latents.js";
import { loadVae } from "../vae/load.js";
import { progressBar } from "./common.js";
import { log, positiveInt, printJson } from "./output.js";
import { checkInput, checkOutputFile } from "./paths.js";
import { UsageError } from "./usage-error.js";

interface ExtractLatentsOpts {
  data: string;
  vae: string;
  out: string;
  imageSize?: number;
  batchSize: number;
  split: string;
  channels?: number;
  json?: boolean;
}

/** `--channels`: 1 or 3. */
function channelsOption(v: string): 1 | 3 {
  if (v.trim() !== "1" && v.trim() !== "3") throw new UsageError(`--channels must be 1 (grey) or 3 (RGB), got '${v}'`);
  return Number(v) as 1 | 3;
}

export function registerExtractLatents(program: Command): void {
  program
    .command("extract-latents")
    .description("encode a dataset once with a VAE: per image and its mirror image, the latent mean and log-variance (float32) and the label, in one file that `dit train` reads; an interrupted run resumes")
    .option("--data <path>", "a folder of MNIST-style IDX files, one IDX image file (labels beside it), or an ImageNet-layout folder (one sub-folder per class)", FASHION_MNIST_DIR)
    .requiredOption("--vae <path>", "a folder with vae.safetensors + config.json (as `dit vae-train` writes), a diffusers AutoencoderKL folder, or an SD VAE weights file")
    .requiredOption("--out <file>", "the latent file to write (FILE.partial while in progress)")
    .option("--image-size <n>", "image size S: IDX images are padded to S×S (default 32), image folders resized and centre-cropped (default 256)", positiveInt("image-size"))
    .option("--batch-size <n>", "images per encoder call (each also encodes its mirror image)", positiveInt("batch-size"), 32)
    .addOption(new Option("--split <train|test>", "IDX folders: train-* or t10k-* files").choices(["train", "test"]).default("train"))
    .addOption(new Option("--channels <1|3>", "image folders: 3 = RGB (default), 1 = grey").argParser(channelsOption))
    .option("--json", 'print one JSON line {"out", "count", "resumed_from", "latent_shape", "num_classes", "scaling_factor", "description"} on stdout')
    .action(async (opts: ExtractLatentsOpts) => {
      checkInput("--data", opts.data, "file or folder");
      checkInput("--vae", opts.vae, "file or folder");
      checkOutputFile("--out", opts.out);
      const src = openImageSource(opts.data, { imageSize: opts.imageSize, split: opts.split as Split, channels: opts.channels as 1 | 3 | undefined });
      log(`extract-latents: ${src.description}`);
      const vae = loadVae(opts.vae);
      log(`extract-latents: VAE ${opts.vae} (${vae.config.inChannels} → ${vae.config.latentChannels} latent channels, block_out_channels [${vae.config.blockOutChannels}], scaling_factor ${vae.config.scalingFactor})`);
      const bar = progressBar("extract-latents", src.numImages, opts.json);
      let shown = 0;
      const ctrl = new AbortController();
      const onSigint = () => {
        log("extract-latents: interrupted; finishing the batch in progress (run the same command again to resume)");
        ctrl.abort();
      };
      process.once("SIGINT", onSigint);
      let res;
      try {
        res = await extractLatents({
          dataset: src,
          vae,
          out: opts.out,
          batchSize: opts.batchSize,
          signal: ctrl.signal,
          onProgress: (done) => {
            bar.tick(done - shown);
            shown = done;
          },
        });
      } finally {
        process.removeListener("SIGINT", onSigint);
        bar.stop();
        await vae.dispose();
      }
      const h = res.header;
      if (!res.complete) {
        log(`extract-latents: stopped after ${shown} of ${res.count} images; ${res.out} resumes with the same command`);
        process.exitCode = 130;
      }
      if (opts.json) {
        printJson({ out: res.out, complete: res.complete, count: res.count, resumed_from: res.resumedFrom, latent_shape: h.latentShape, num_classes: h.numClasses, scaling_factor: h.scalingFactor, description: h.description });
      } else if (res.complete) {
        const how = res.resumedFrom === res.count ? "already complete" : res.resumedFrom > 0 ? `resumed at ${res.resumedFrom}` : "";
        process.stdout.write(`wrote ${res.out}: ${res.count} images × 2 (and mirror) latent distributions ${h.latentShape.join("×")}, ${h.numClasses} classes, scaling_factor ${h.scalingFactor}${how ? ` (${how})` : ""}\n`);
      }
    });
}
