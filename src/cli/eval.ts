/** `dit eval SAMPLES REF`: FID, sFID, Inception Score, precision/recall and class accuracy of a sample set. */
import { Option, type Command } from "commander";
import type { Split } from "../data/dataset.js";
import { writeFileAtomic } from "../io/atomic-file.js";
import { evalReportJson, evaluate, type EvalReport } from "../eval/evaluate.js";
import type { FeatureNetworkName } from "../eval/feature-network.js";
import { FEATURE_NETWORK_NAMES } from "../eval/networks.js";
import { progressBar } from "./common.js";
import { log, positiveInt, printJson } from "./output.js";
import { checkInput, checkOutputFile, checkOutputFolder } from "./paths.js";

/** A progress bar per phase that takes absolute counts (one bar at a time, on stderr). */
export function featureProgress(quiet = false): { update(label: string, done: number, total: number): void; stop(): void } {
  let bar: ReturnType<typeof progressBar> | undefined;
  let label = "";
  let at = 0;
  return {
    update(l, done, total) {
      if (l !== label) {
        bar?.stop();
        bar = progressBar(l, total, quiet);
        label = l;
        at = 0;
      }
      if (done > at) bar!.tick(done - at);
      at = Math.max(at, done);
    },
    stop: () => bar?.stop(),
  };
}

interface EvalCliOpts {
  net?: FeatureNetworkName;
  weights?: string;
  split: Split;
  imageSize?: number;
  cacheDir?: string;
  cache: boolean;
  batchSize?: number;
  json?: string | boolean;
}

const fmt = (v: number | null, digits = 4) => (v === null || !Number.isFinite(v) ? "n/a" : v.toFixed(digits));

/** The human-readable summary `dit eval` prints. */
function summary(r: EvalReport): string {
  const lines = [
    `network        ${r.network} (weights ${r.weightsKey}, ${r.featureDim} features)`,
    `samples        ${r.numSamples}  ${r.samples}`,
    `reference      ${r.numReference ?? "?"}  ${r.reference}${r.referenceCached === null ? "" : r.referenceCached ? " (statistics from the cache)" : " (statistics computed and cached)"}`,
    `FID            ${fmt(r.fid)}${r.fidRankDeficient ? "  (rank-deficient: fewer images than feature dimensions)" : ""}`,
    `sFID           ${fmt(r.sfid)}`,
    `Inception Score ${fmt(r.inceptionScore)} ± ${fmt(r.inceptionScoreStd)} (${r.inceptionScoreSplits} split${r.inceptionScoreSplits > 1 ? "s" : ""})`,
    `precision      ${fmt(r.precision)}`,
    `recall         ${fmt(r.recall)}`,
    `class accuracy ${fmt(r.classAccuracy)}`,
  ];
  return lines.join("\n") + "\n" + r.notes.map((n) => `note: ${n}\n`).join("");
}

export function registerEval(program: Command): void {
  program
    .command("eval")
    .description(
      "evaluate a sample set against a reference: FID, sFID (Inception), Inception Score, precision/recall (k = 3) and, with the fmnist network and known labels, class accuracy. " +
        "Inputs are checked before any network runs",
    )
    .argument("<samples>", "a folder of images (dit sample's NNNNNN.png; labels from its .dit-sample.json; grid.png ignored) or an .npz (arr_0 uint8 N×H×W×C, labels from arr_1)")
    .argument("<ref>", "reference statistics (.npz from dit fid-stats, or an ADM reference batch) or a dataset (IDX folder with --split, image folder, .npz arr_0), whose statistics are computed once and cached")
    .addOption(
      new Option("--net <name>", "feature network (default: the one the reference statistics record; inception for ADM batches; for a dataset reference fmnist for grey 28/32-px samples, else inception)").choices([
        ...FEATURE_NETWORK_NAMES,
      ]),
    )
    .option("--weights <file>", "network weights (default: the shipped Fashion-MNIST classifier; Inception: see the README)")
    .addOption(new Option("--split <split>", "split of a dataset reference").choices(["train", "test"]).default("train"))
    .option("--image-size <n>", "data-layer image size of a dataset reference (default 32 for IDX, 256 for image folders)", positiveInt("image-size"))
    .option("--cache-dir <dir>", "reference statistics cache (default $DIT_CACHE_DIR/fid-stats or ~/.cache/dit-ts/fid-stats)")
    .option("--no-cache", "neither read nor write the cache")
    .option("--batch-size <b>", "images per network call", positiveInt("batch-size"))
    .option("--json [file]", "write the results as JSON to file (and print the summary), or without a file print one JSON line on stdout")
    .action(async (samples: string, ref: string, opts: EvalCliOpts) => {
      checkInput("<samples>", samples, "file or folder");
      checkInput("<ref>", ref, "file or folder");
      checkInput("--weights", opts.weights, "file");
      if (typeof opts.json === "string") checkOutputFile("--json", opts.json);
      if (opts.cache) checkOutputFolder("--cache-dir", opts.cacheDir);
      const toStdout = opts.json === true;
      const bar = featureProgress(toStdout);
      let report: EvalReport;
      try {
        report = await evaluate({
          samples,
          ref,
          net: opts.net,
          weights: opts.weights,
          split: opts.split,
          imageSize: opts.imageSize,
          cacheDir: opts.cacheDir,
          cache: opts.cache,
          batch: opts.batchSize,
          onStart: (s) => log(`eval: ${s.samples.description}; reference ${s.reference}; network ${s.network}`),
          onWarning: (w) => log(`warning: ${w}`),
          onProgress: (phase, done, total) => bar.update(phase === "samples" ? "sample features" : "reference features", done, total),
        });
      } finally {
        bar.stop();
      }
      const json = evalReportJson(report);
      if (toStdout) {
        printJson(json);
        return;
      }
      if (typeof opts.json === "string") writeFileAtomic(opts.json, JSON.stringify(json, null, 1) + "\n");
      process.stdout.write(summary(report) + (typeof opts.json === "string" ? `wrote ${opts.json}\n` : ""));
    });
}
