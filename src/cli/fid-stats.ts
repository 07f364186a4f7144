/** `dit fid-stats`: reference statistics (mu, sigma, mu_s, sigma_s, features) of a dataset → an ADM-compatible .npz. */
import { Option, type Command } from "commander";
import { FEATURE_NETWORK_NAMES } from "../eval/networks.js";
import { referenceStats, writeReferenceStats } from "../eval/reference-stats.js";
import type { FeatureNetworkName } from "../eval/feature-network.js";
import type { Split } from "../data/dataset.js";
import { featureProgress } from "./eval.js";
import { log, positiveInt, printJson } from "./output.js";
import { checkInput, checkOutputFile, checkOutputFolder } from "./paths.js";

interface FidStatsCliOpts {
  data: string;
  split: Split;
  net?: FeatureNetworkName;
  weights?: string;
  imageSize?: number;
  out: string;
  cacheDir?: string;
  cache: boolean;
  batchSize?: number;
  json?: boolean;
}

export function registerFidStats(program: Command): void {
  program
    .command("fid-stats")
    .description(
      "reference statistics of a dataset for FID/sFID/precision-recall: an .npz ADM's evaluator reads (mu, sigma, and mu_s, sigma_s with Inception) " +
        "plus features (for precision/recall) and dit_ts_meta (JSON: network, weights, dataset). Computed once per (dataset, network) and cached",
    )
    .requiredOption("--data <path>", "a Fashion-MNIST/IDX folder (with --split), an ImageNet-layout image folder, a flat folder of images, or an .npz with arr_0 (uint8 N×H×W×C)")
    .addOption(new Option("--split <split>", "dataset split (IDX train-* or t10k-* files; image folders <data>/<split> when present)").choices(["train", "test"]).default("train"))
    .addOption(new Option("--net <name>", "feature network (default: fmnist for grey 28/32-px images, else inception)").choices([...FEATURE_NETWORK_NAMES]))
    .option("--weights <file>", "network weights (default: the shipped Fashion-MNIST classifier; Inception: see the README)")
    .option("--image-size <n>", "data-layer image size (default 32 for IDX, 256 for image folders)", positiveInt("image-size"))
    .requiredOption("--out <file>", "output .npz (written atomically)")
    .option("--cache-dir <dir>", "statistics cache (default $DIT_CACHE_DIR/fid-stats or ~/.cache/dit-ts/fid-stats)")
    .option("--no-cache", "neither read nor write the cache")
    .option("--batch-size <b>", "images per network call", positiveInt("batch-size"))
    .option("--json", "print one JSON line {out, network, n, feature_dim, spatial_dim, cached, cache} on stdout")
    .action(async (opts: FidStatsCliOpts) => {
      checkInput("--data", opts.data, "file or folder");
      checkInput("--weights", opts.weights, "file");
      checkOutputFile("--out", opts.out);
      if (opts.cache) checkOutputFolder("--cache-dir", opts.cacheDir);
      const bar = featureProgress(opts.json);
      let r;
      try {
        r = await referenceStats({
          data: opts.data,
          split: opts.split,
          net: opts.net,
          weights: opts.weights,
          imageSize: opts.imageSize,
          cacheDir: opts.cacheDir,
          cache: opts.cache,
          batch: opts.batchSize,
          onProgress: (done, total) => bar.update("features", done, total),
        });
      } finally {
        bar.stop();
      }
      writeReferenceStats(opts.out, r.stats);
      const m = r.stats.meta!;
      if (opts.json) {
        printJson({ out: opts.out, network: m.network, weights_key: m.weightsKey, n: m.n, feature_dim: m.featureDim, spatial_dim: m.spatialDim, cached: r.cached, cache: r.cachePath });
      } else {
        log(`fid-stats: ${r.set.description}`);
        process.stdout.write(
          `wrote ${opts.out}: ${m.network} statistics of ${m.n} images (mu/sigma ${m.featureDim}${m.spatialDim !== null ? `, mu_s/sigma_s ${m.spatialDim}` : ""}, features)${r.cached ? ` from the cache ${r.cachePath}` : r.cachePath ? `; cached in ${r.cachePath}` : ""}\n`,
        );
      }
    });
}
