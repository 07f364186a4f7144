/**
 * Evaluate a sample set against a reference, as ADM's evaluation suite: FID,
 * sFID, Inception Score, improved precision/recall (k = 3) and, for the
 * Fashion-MNIST network with known labels, class accuracy.
 *
 * Everything that can be checked is checked before any network runs: the
 * sample set (one size and mode; an `.npz` with uint8 arr_0 N×H×W×C), the
 * reference (statistics from the same network, weights and feature size, or
 * a dataset that opens). Fewer samples than feature dimensions makes Σ
 * singular: FID is still computed, as pytorch-fid does, and flagged.
 */
import { readNpz } from "../io/npz.js";
import type { Split } from "../data/dataset.js";
import { EvalInputError } from "./errors.js";
import { extractImageSetFeatures, type ExtractedFeatures } from "./extract-features.js";
import type { FeatureNetwork, FeatureNetworkName } from "./feature-network.js";
import { featureStats, frechetDistance } from "./fid.js";
import { classifierAccuracy, FMNIST_NUM_CLASSES } from "./fmnist-classifier.js";
import { inceptionScore, precisionRecall, softmaxRows } from "./metrics.js";
import { defaultFeatureNetwork, openFeatureNetwork } from "./networks.js";
import { checkReferenceMatches, isReferenceStatsNpz, referenceStats, referenceStatsFromNpz, type NetworkIdentity, type ReferenceStats } from "./reference-stats.js";
import { imageSetShape, npzImageSet, openImageSet, type ImageSet } from "./sample-set.js";

/** k of the k-nearest-neighbour manifolds (ADM's evaluator). */
export const PRECISION_RECALL_K = 3;
/** Images per Inception-Score split (ADM's evaluator: split_size = 5000). */
export const INCEPTION_SCORE_SPLIT_SIZE = 5000;

/** The numbers of an evaluation; null where a metric does not apply (see `notes`). */
export interface EvalMetrics {
  numSamples: number;
  /** Images behind the reference statistics, when recorded. */
  numReference: number | null;
  fid: number;
  /** True when the samples or the reference have fewer images than feature dimensions (Σ singular). */
  fidRankDeficient: boolean;
  sfid: number | null;
  inceptionScore: number;
  inceptionScoreStd: number;
  inceptionScoreSplits: number;
  precision: number | null;
  recall: number | null;
  /** Fraction of samples the fmnist classifier assigns to their label (fmnist network, labels known). */
  classAccuracy: number | null;
  /** Per class, NaN for classes without samples. */
  classAccuracyPerClass: number[] | null;
  /** Why a metric is null, and warnings. */
  notes: string[];
}

/**
 * All metrics of extracted sample features against reference statistics.
 * FID = frechetDistance of featureStats; sFID likewise on the spatial
 * features when both sides have them; IS over ceil(N / 5000) equal splits of
 * softmax(logits); precision/recall against `ref.features`.
 */
export function computeMetrics(x: ExtractedFeatures, ref: ReferenceStats, net: NetworkIdentity, labels: ArrayLike<number> | null): EvalMetrics {
  const notes: string[] = [];
  const d = net.featureDim;
  if (x.n < 2) throw new EvalInputError(`evaluation needs at least 2 samples, got ${x.n}`);
  const numReference = ref.meta?.n ?? (ref.features ? ref.features.length / d : null);
  let rankDeficient = false;
  if (x.n < d) {
    rankDeficient = true;
    notes.push(`${x.n} samples < ${d} feature dimensions: the sample covariance is singular; FID is computed anyway (as pytorch-fid) but is not comparable`);
  }
  if (numReference !== null && numReference < d) {
    rankDeficient = true;
    notes.push(`${numReference} reference images < ${d} feature dimensions: the reference covariance is singular`);
  }
  const s = featureStats(x.features, x.n, d);
  const fid = frechetDistance(s.mu, s.sigma, ref.mu, ref.sigma).fid;
  let sfid: number | null = null;
  if (x.spatial && net.spatialDim !== null && ref.muS && ref.sigmaS) {
    const ss = featureStats(x.spatial, x.n, net.spatialDim);
    sfid = frechetDistance(ss.mu, ss.sigma, ref.muS, ref.sigmaS).fid;
  } else if (net.spatialDim === null) {
    notes.push(`sFID: the '${net.name}' network has no spatial features`);
  } else {
    notes.push("sFID: the reference has no spatial statistics (mu_s, sigma_s)");
  }
  const classes = x.logits.length / x.n;
  const splits = Math.min(x.n, Math.max(1, Math.ceil(x.n / INCEPTION_SCORE_SPLIT_SIZE)));
  const is = inceptionScore(softmaxRows(x.logits, x.n, classes), x.n, classes, splits);
  let precision: number | null = null;
  let recall: number | null = null;
  const k = PRECISION_RECALL_K;
  if (!ref.features) {
    notes.push("precision/recall unavailable: the reference has no stored features (an ADM reference batch?); make the reference with dit fid-stats");
  } else if (x.n <= k || ref.features.length / d <= k) {
    notes.push(`precision/recall unavailable: each set needs more than k = ${k} images (samples ${x.n}, reference ${ref.features.length / d})`);
  } else {
    ({ precision, recall } = precisionRecall(ref.features, ref.features.length / d, x.features, x.n, d, { k }));
  }
  let classAccuracy: number | null = null;
  let classAccuracyPerClass: number[] | null = null;
  if (net.name !== "fmnist") {
    notes.push("class accuracy: only with the fmnist network");
  } else if (!labels) {
    notes.push("class accuracy: the samples carry no labels (no .dit-sample.json manifest or arr_1)");
  } else if (Array.from(labels).some((y) => !(Number.isInteger(y) && y >= 0 && y < FMNIST_NUM_CLASSES))) {
    notes.push(`class accuracy: labels outside 0..${FMNIST_NUM_CLASSES - 1}`);
  } else {
    const acc = classifierAccuracy(x.logits, labels);
    classAccuracy = acc.accuracy;
    classAccuracyPerClass = acc.perClass;
  }
  return {
    numSamples: x.n,
    numReference,
    fid,
    fidRankDeficient: rankDeficient,
    sfid,
    inceptionScore: is.score,
    inceptionScoreStd: is.std,
    inceptionScoreSplits: splits,
    precision,
    recall,
    classAccuracy,
    classAccuracyPerClass,
    notes,
  };
}

/** Which part of an evaluation is running. */
export type EvalPhase = "samples" | "reference";

export interface EvaluateOptions {
  /** A folder of images, an `.npz` (arr_0, arr_1), or an opened set. */
  samples: string | ImageSet;
  /** Reference statistics (`.npz` with mu/sigma, or loaded), or a dataset (path or set) whose statistics are computed and cached. */
  ref: string | ReferenceStats | ImageSet;
  /**
   * The network, or its name. Default: the one the reference statistics record;
   * for an ADM batch without metadata, inception; for a dataset reference,
   * fmnist for grey 28/32-px samples, else inception (networks.defaultFeatureNetwork).
   */
  net?: FeatureNetwork | FeatureNetworkName;
  /** Weights for a network given by name. */
  weights?: string;
  /** Split of a dataset reference (default train). */
  split?: Split;
  /** Data-layer image size of a dataset reference. */
  imageSize?: number;
  /** Cache of dataset reference statistics (see referenceStats). */
  cacheDir?: string;
  cache?: boolean;
  batch?: number;
  onProgress?: (phase: EvalPhase, done: number, total: number) => void;
  /** Called with each warning (also kept in `notes`). */
  onWarning?: (message: string) => void;
  /** Called once the network is known, before any features are extracted. */
  onStart?: (info: { network: FeatureNetworkName; samples: ImageSet; reference: string }) => void;
}

export interface EvalReport extends EvalMetrics {
  network: FeatureNetworkName;
  weightsKey: string;
  featureDim: number;
  samples: string;
  reference: string;
  /** For a dataset reference: whether its statistics came from the cache, and the entry. */
  referenceCached: boolean | null;
  referenceCachePath: string | null;
}

type Ref = { kind: "stats"; stats: ReferenceStats; where: string } | { kind: "set"; set: ImageSet };

function resolveRef(ref: EvaluateOptions["ref"], opts: EvaluateOptions): Ref {
  if (typeof ref !== "string") return "mu" in ref ? { kind: "stats", stats: ref, where: "reference" } : { kind: "set", set: ref };
  if (ref.toLowerCase().endsWith(".npz")) {
    const arrays = readNpz(ref);
    if (isReferenceStatsNpz(arrays)) return { kind: "stats", stats: referenceStatsFromNpz(arrays, ref), where: ref };
    return { kind: "set", set: npzImageSet(arrays, ref) };
  }
  return { kind: "set", set: openImageSet(ref, { split: opts.split, imageSize: opts.imageSize }) };
}

/**
 * Evaluate `samples` against `ref` (see EvaluateOptions): open and check
 * both, pick and load the network, then extract sample features, get the
 * reference statistics (cached for datasets) and compute every metric.
 */
export async function evaluate(opts: EvaluateOptions): Promise<EvalReport> {
  const samples = typeof opts.samples === "string" ? openImageSet(opts.samples) : opts.samples;
  const ref = resolveRef(opts.ref, opts);
  const shape = imageSetShape(samples);
  const name: FeatureNetworkName =
    typeof opts.net === "object"
      ? opts.net.name
      : (opts.net ?? (ref.kind === "stats" ? (ref.stats.meta?.network ?? "inception") : defaultFeatureNetwork(shape, samples.read(0, Math.min(samples.count, 16)))));
  if (ref.kind === "stats" && ref.stats.meta && ref.stats.meta.network !== name) {
    checkReferenceMatches(ref.stats, { name, weightsKey: "", featureDim: 0, spatialDim: null }, ref.where); // says which, before loading any weights
  }
  const owned = typeof opts.net !== "object";
  const net = typeof opts.net === "object" ? opts.net : await openFeatureNetwork(name, { weights: opts.weights });
  try {
    if (ref.kind === "stats") checkReferenceMatches(ref.stats, net, ref.where);
    if (ref.kind === "set" && ref.set.count < 2) throw new EvalInputError(`${ref.set.source}: a reference dataset needs at least 2 images, got ${ref.set.count}`);
    if (samples.count < 2) throw new EvalInputError(`${samples.source}: evaluation needs at least 2 samples, got ${samples.count}`);
    if (samples.count < net.featureDim) {
      opts.onWarning?.(`${samples.count} samples < ${net.featureDim} feature dimensions of '${net.name}': FID is computed anyway (as pytorch-fid) but flagged rank-deficient; use ≥ ${net.featureDim} samples`);
    }
    const refName = ref.kind === "stats" ? ref.where : ref.set.source;
    opts.onStart?.({ network: net.name, samples, reference: refName });
    const x = await extractImageSetFeatures(net, samples, { batch: opts.batch, onProgress: (d, t) => opts.onProgress?.("samples", d, t) });
    let stats: ReferenceStats;
    let referenceCached: boolean | null = null;
    let referenceCachePath: string | null = null;
    if (ref.kind === "stats") {
      stats = ref.stats;
    } else {
      const r = await referenceStats({ data: ref.set, net, split: opts.split, cacheDir: opts.cacheDir, cache: opts.cache, batch: opts.batch, onProgress: (d, t) => opts.onProgress?.("reference", d, t) });
      stats = r.stats;
      referenceCached = r.cached;
      referenceCachePath = r.cachePath;
    }
    const metrics = computeMetrics(x, stats, net, samples.labels);
    return { network: net.name, weightsKey: net.weightsKey, featureDim: net.featureDim, samples: samples.source, reference: refName, referenceCached, referenceCachePath, ...metrics };
  } finally {
    if (owned) await net.dispose();
  }
}

/** The JSON `dit eval` writes: snake_case fields, NaN → null. */
export function evalReportJson(r: EvalReport): Record<string, unknown> {
  const num = (v: number | null) => (v === null || !Number.isFinite(v) ? null : v);
  return {
    network: r.network,
    weights_key: r.weightsKey,
    feature_dim: r.featureDim,
    samples: r.samples,
    reference: r.reference,
    reference_cached: r.referenceCached,
    num_samples: r.numSamples,
    num_reference: r.numReference,
    fid: num(r.fid),
    fid_rank_deficient: r.fidRankDeficient,
    sfid: num(r.sfid),
    inception_score: num(r.inceptionScore),
    inception_score_std: num(r.inceptionScoreStd),
    inception_score_splits: r.inceptionScoreSplits,
    precision: num(r.precision),
    recall: num(r.recall),
    precision_recall_k: PRECISION_RECALL_K,
    class_accuracy: num(r.classAccuracy),
    class_accuracy_per_class: r.classAccuracyPerClass?.map(num) ?? null,
    notes: r.notes,
  };
}
