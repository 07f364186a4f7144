/**
 * FID of a model's own samples against reference statistics, for evaluating
 * along training (`dit train --eval-every K --eval-samples N`) and in the
 * studies: sample N images with the EMA weights, embed them with a feature
 * network, and measure the Fréchet distance to the reference Gaussian.
 *
 * The labels cycle through the classes (image i gets class i mod K), so every
 * evaluation of a run sees the same balanced label set, like a test split;
 * the noise of image i comes from (seed, i), so two evaluations of the same
 * weights give the same images, and two runs evaluated with the same seed see
 * the same noise and labels.
 */
import type { StateDict } from "../io/state-dict.js";
import type { DiTConfig } from "../model/config.js";
import { sample, type SamplerName } from "../sample/sample.js";
import type { VaeSource } from "../sample/vae-source.js";
import { EvalInputError } from "./errors.js";
import type { FeatureNetwork, FeatureNetworkName } from "./feature-network.js";
import { featureStats, frechetDistance, type FeatureStats } from "./fid.js";
import { openFeatureNetwork } from "./networks.js";
import { checkReferenceMatches, readReferenceStats, referenceStats } from "./reference-stats.js";
import type { Split } from "../data/dataset.js";

export interface SampleFidOptions {
  /** The network that embeds the samples (the reference statistics must come from the same one). */
  net: FeatureNetwork;
  /** Reference statistics: μ (d) and Σ (d×d) of the same network's features. */
  reference: FeatureStats;
  /** Images per evaluation. */
  numSamples: number;
  /** The model's VAE ("none" for pixel-space models). */
  vae: VaeSource;
  /** Sampler and steps (default DPM-Solver++, 25 steps: cheap enough to run during training). */
  sampler?: SamplerName;
  steps?: number;
  /** Guidance scale (default 1: no guidance, as the paper's FID-50K along training). */
  cfgScale?: number;
  /** Seed of the noise streams (default 0). */
  seed?: number;
  /** Images per model call (default 64). */
  batchSize?: number;
}

/** What one evaluation measured. */
export interface SampleFidResult {
  /** FID of the samples against the reference. */
  fid: number;
  /** Which network the features came from ("fmnist" = FID-FMNIST). */
  eval_net: string;
  eval_samples: number;
  /** Fewer samples than feature dimensions: Σ is singular and FID is biased (still computed, as pytorch-fid). */
  fid_rank_deficient?: boolean;
  /** Fraction of samples of class k that the Fashion-MNIST classifier calls k (fmnist network, conditional model). */
  class_accuracy?: number;
}

/**
 * Build an evaluator `(weights, config) → SampleFidResult` for a fixed
 * reference, network and sampling setup. Checks the options now, so a bad
 * setting fails before training starts rather than at the first evaluation.
 */
export function sampleFidEvaluator(opts: SampleFidOptions): (weights: StateDict, config: DiTConfig) => Promise<SampleFidResult> {
  const { net, reference } = opts;
  const d = net.featureDim;
  if (!Number.isInteger(opts.numSamples) || opts.numSamples < 2) throw new EvalInputError(`eval samples must be an integer ≥ 2, got ${opts.numSamples}`);
  if (reference.mu.length !== d || reference.sigma.length !== d * d) {
    throw new EvalInputError(`the reference statistics have ${reference.mu.length} features, the ${net.name} network gives ${d}: they come from another network`);
  }
  return async (weights, config) => {
    const conditional = config.numClasses > 1;
    const classes = conditional ? Array.from({ length: config.numClasses }, (_, k) => k) : undefined;
    const res = await sample({
      model: { config, weights },
      vae: opts.vae,
      classes,
      numSamples: opts.numSamples,
      sampler: opts.sampler ?? "dpm++",
      numSamplingSteps: opts.steps,
      cfgScale: opts.cfgScale ?? 1,
      seed: opts.seed ?? 0,
      batchSize: opts.batchSize ?? 64,
    });
    const { features, logits } = await net.extract(res.images, res.shape);
    const n = res.shape[0];
    const stats = featureStats(features, n, d);
    const { fid } = frechetDistance(stats.mu, stats.sigma, reference.mu, reference.sigma);
    const out: SampleFidResult = { fid, eval_net: net.name, eval_samples: n };
    if (n <= d) out.fid_rank_deficient = true;
    if (net.name === "fmnist" && conditional && config.numClasses === net.numClasses) {
      const k = net.numClasses;
      let hits = 0;
      for (let i = 0; i < n; i++) {
        let best = 0; // argmax of row i of the (n, k) logits
        for (let c = 1; c < k; c++) if (logits[i * k + c]! > logits[i * k + best]!) best = c;
        if (best === res.labels[i]) hits++;
      }
      out.class_accuracy = hits / n;
    }
    return out;
  };
}

export interface OpenSampleFidOptions extends Omit<SampleFidOptions, "net" | "reference"> {
  /** The feature network (default "fmnist": FID-FMNIST). */
  net?: FeatureNetworkName;
  /** Its weights (default: the shipped / standard location). */
  weights?: string;
  /** Reference: statistics written by `dit fid-stats` (.npz), or a dataset whose statistics are computed once and cached. */
  ref: string;
  /** Split of a dataset reference (default "test": the held-out images). */
  split?: Split;
  /** Called while reference features are extracted (first use of a dataset only). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Open the network and the reference statistics (computing and caching them
 * for a dataset), check that they belong together, and return the evaluator
 * plus the network to dispose when done.
 */
export async function openSampleFidEvaluator(opts: OpenSampleFidOptions): Promise<{ evaluate: (weights: StateDict, config: DiTConfig) => Promise<SampleFidResult>; net: FeatureNetwork; reference: string }> {
  const net = await openFeatureNetwork(opts.net ?? "fmnist", { weights: opts.weights });
  try {
    let reference: FeatureStats;
    let where: string;
    if (opts.ref.toLowerCase().endsWith(".npz")) {
      const stats = readReferenceStats(opts.ref);
      checkReferenceMatches(stats, net, opts.ref);
      reference = stats;
      where = opts.ref;
    } else {
      const r = await referenceStats({ data: opts.ref, net, split: opts.split ?? "test", onProgress: opts.onProgress });
      reference = r.stats;
      where = `${opts.ref} (${opts.split ?? "test"} split${r.cachePath ? `, statistics cached in ${r.cachePath}` : ""})`;
    }
    return { evaluate: sampleFidEvaluator({ ...opts, net, reference }), net, reference: where };
  } catch (e) {
    await net.dispose();
    throw e;
  }
}
