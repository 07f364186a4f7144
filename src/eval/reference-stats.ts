/**
 * Reference statistics of a dataset for a feature network: the Gaussian fit
 * (μ, Σ) of its features for FID, of its spatial features (μ_s, Σ_s) for sFID
 * when the network has them, and the features themselves for improved
 * precision/recall; computed once per (dataset, network) and cached.
 *
 * File format: an `.npz` that ADM's evaluator reads as a reference batch
 * (https://github.com/openai/guided-diffusion/tree/main/evaluations):
 *   mu (d) float64, sigma (d, d) float64, [mu_s (ds) float64, sigma_s (ds, ds) float64],
 * plus our own arrays:
 *   features (N, d) float32            — for precision/recall (k = 3)
 *   dit_ts_meta (bytes) uint8          — UTF-8 JSON ReferenceMeta (network, weights, dataset, N)
 * ADM's own reference batches (mu, sigma, mu_s, sigma_s, arr_0) read too,
 * without metadata or features.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Split } from "../data/dataset.js";
import { readNpz, writeNpz, type NpyArray } from "../io/npz.js";
import { EvalInputError } from "./errors.js";
import { extractImageSetFeatures } from "./extract-features.js";
import type { FeatureNetwork, FeatureNetworkName } from "./feature-network.js";
import { featureStats } from "./fid.js";
import { defaultFeatureNetwork, openFeatureNetwork, type OpenFeatureNetworkOptions } from "./networks.js";
import { imageSetShape, openImageSet, type ImageSet } from "./sample-set.js";

/** `format` of ReferenceMeta; bump when the meaning of the stored arrays changes (old cache entries are then recomputed). */
export const REFERENCE_STATS_FORMAT = "dit-ts-fid-stats/1";
/** The `.npz` member holding the JSON metadata. */
export const REFERENCE_META_KEY = "dit_ts_meta";

/** What a reference was computed from. */
export interface ReferenceMeta {
  format: string;
  network: FeatureNetworkName;
  weightsKey: string;
  featureDim: number;
  spatialDim: number | null;
  /** Images the statistics cover. */
  n: number;
  dataset: {
    /** Resolved path. */
    path: string;
    split: Split | null;
    /** ImageSet.fingerprint: content hash (IDX, .npz) or names + sizes (+ mtimes) of image files. */
    fingerprint: string;
    description: string;
  };
}

/** Reference statistics (ours, or an ADM reference batch). */
export interface ReferenceStats {
  /** (d) */
  mu: Float64Array;
  /** (d, d) */
  sigma: Float64Array;
  /** (ds), or null without spatial statistics. */
  muS: Float64Array | null;
  /** (ds, ds), or null. */
  sigmaS: Float64Array | null;
  /** (n, d) features for precision/recall, or null (ADM reference batches). */
  features: Float32Array | null;
  featureDim: number;
  spatialDim: number | null;
  /** Null for files without metadata (ADM reference batches). */
  meta: ReferenceMeta | null;
}

/** The network facts statistics depend on. */
export type NetworkIdentity = Pick<FeatureNetwork, "name" | "weightsKey" | "featureDim" | "spatialDim">;

/**
 * Statistics of `set` under `net`: μ = mean, Σ = unbiased covariance
 * (pytorch-fid, float64) of the features and, when the network has them, of
 * the spatial features; the features kept (float32) for precision/recall.
 */
export async function computeReferenceStats(
  net: FeatureNetwork,
  set: ImageSet,
  opts: { split?: Split | null; batch?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<ReferenceStats> {
  if (set.count < 2) throw new EvalInputError(`${set.source}: reference statistics need at least 2 images, got ${set.count}`);
  const x = await extractImageSetFeatures(net, set, { batch: opts.batch, onProgress: opts.onProgress });
  const { mu, sigma } = featureStats(x.features, x.n, net.featureDim);
  const s = x.spatial && net.spatialDim !== null ? featureStats(x.spatial, x.n, net.spatialDim) : null;
  return {
    mu,
    sigma,
    muS: s?.mu ?? null,
    sigmaS: s?.sigma ?? null,
    features: x.features,
    featureDim: net.featureDim,
    spatialDim: net.spatialDim,
    meta: {
      format: REFERENCE_STATS_FORMAT,
      network: net.name,
      weightsKey: net.weightsKey,
      featureDim: net.featureDim,
      spatialDim: net.spatialDim,
      n: x.n,
      dataset: { path: set.source, split: opts.split ?? null, fingerprint: set.fingerprint, description: set.description },
    },
  };
}

/** Write statistics as an ADM-compatible `.npz` (see the module comment), atomically. */
export function writeReferenceStats(path: string, stats: ReferenceStats): void {
  const d = stats.featureDim;
  const arrays: Record<string, NpyArray> = {
    mu: { dtype: "float64", shape: [d], data: stats.mu },
    sigma: { dtype: "float64", shape: [d, d], data: stats.sigma },
  };
  if (stats.muS && stats.sigmaS && stats.spatialDim !== null) {
    arrays.mu_s = { dtype: "float64", shape: [stats.spatialDim], data: stats.muS };
    arrays.sigma_s = { dtype: "float64", shape: [stats.spatialDim, stats.spatialDim], data: stats.sigmaS };
  }
  if (stats.features) arrays.features = { dtype: "float32", shape: [stats.features.length / d, d], data: stats.features };
  if (stats.meta) {
    const bytes = new Uint8Array(Buffer.from(JSON.stringify(stats.meta), "utf8"));
    arrays[REFERENCE_META_KEY] = { dtype: "uint8", shape: [bytes.length], data: bytes };
  }
  writeNpz(path, arrays);
}

/** Does this `.npz` (already read) hold reference statistics (`mu` and `sigma`)? */
export function isReferenceStatsNpz(arrays: Map<string, NpyArray>): boolean {
  return arrays.has("mu") && arrays.has("sigma");
}

function float64Of(a: NpyArray, shape: number[], what: string, path: string): Float64Array {
  if ((a.dtype !== "float64" && a.dtype !== "float32") || a.shape.join() !== shape.join()) {
    throw new EvalInputError(`${path}: ${what} is ${a.dtype} (${a.shape.join(", ")}), expected float64 (${shape.join(", ")})`);
  }
  return a.data instanceof Float64Array ? a.data : Float64Array.from(a.data as Float32Array);
}

/** Reference statistics from arrays read out of `path` (ours or an ADM reference batch). */
export function referenceStatsFromNpz(arrays: Map<string, NpyArray>, path: string): ReferenceStats {
  const muA = arrays.get("mu");
  const sigmaA = arrays.get("sigma");
  if (!muA || !sigmaA) throw new EvalInputError(`${path}: not reference statistics (no mu/sigma; holds ${[...arrays.keys()].join(", ") || "nothing"})`);
  if (muA.shape.length !== 1) throw new EvalInputError(`${path}: mu has shape (${muA.shape.join(", ")}), expected (d,)`);
  const d = muA.shape[0]!;
  const mu = float64Of(muA, [d], "mu", path);
  const sigma = float64Of(sigmaA, [d, d], "sigma", path);
  let muS: Float64Array | null = null;
  let sigmaS: Float64Array | null = null;
  let spatialDim: number | null = null;
  const muSA = arrays.get("mu_s");
  const sigmaSA = arrays.get("sigma_s");
  if (muSA && sigmaSA) {
    spatialDim = muSA.shape[0]!;
    muS = float64Of(muSA, [spatialDim], "mu_s", path);
    sigmaS = float64Of(sigmaSA, [spatialDim, spatialDim], "sigma_s", path);
  }
  let meta: ReferenceMeta | null = null;
  const m = arrays.get(REFERENCE_META_KEY);
  if (m) {
    try {
      meta = JSON.parse(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString("utf8")) as ReferenceMeta;
    } catch (e) {
      throw new EvalInputError(`${path}: ${REFERENCE_META_KEY} is not UTF-8 JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    if (meta.featureDim !== d) throw new EvalInputError(`${path}: metadata says ${meta.featureDim} features, mu has ${d}`);
  }
  let features: Float32Array | null = null;
  const f = arrays.get("features");
  if (f) {
    if (f.dtype !== "float32" || f.shape.length !== 2 || f.shape[1] !== d) throw new EvalInputError(`${path}: features is ${f.dtype} (${f.shape.join(", ")}), expected float32 (N, ${d})`);
    features = f.data as Float32Array;
  }
  return { mu, sigma, muS, sigmaS, features, featureDim: d, spatialDim: meta?.spatialDim ?? spatialDim, meta };
}

/** Read reference statistics written by writeReferenceStats, or an ADM reference batch. */
export function readReferenceStats(path: string): ReferenceStats {
  return referenceStatsFromNpz(readNpz(path), path);
}

/**
 * Throw an EvalInputError, saying which, when `ref` was not made by `net`:
 * another network, other weights, or another feature size (ADM batches carry
 * no metadata: their sizes must match, 2048 / 2023 for Inception).
 */
export function checkReferenceMatches(ref: ReferenceStats, net: NetworkIdentity, where: string): void {
  const m = ref.meta;
  if (m && m.network !== net.name) {
    throw new EvalInputError(`${where}: reference statistics from the '${m.network}' network, but this evaluation uses '${net.name}'; pass --net ${m.network} or recompute them with dit fid-stats --net ${net.name}`);
  }
  if (m && m.weightsKey !== net.weightsKey) {
    throw new EvalInputError(`${where}: reference statistics from other '${m.network}' weights (key ${m.weightsKey}; these weights are ${net.weightsKey}); recompute them with dit fid-stats`);
  }
  if (ref.featureDim !== net.featureDim) {
    throw new EvalInputError(`${where}: reference statistics have ${ref.featureDim}-dimensional features, the '${net.name}' network gives ${net.featureDim}; they come from another network`);
  }
  if (ref.muS && net.spatialDim !== null && ref.muS.length !== net.spatialDim) {
    throw new EvalInputError(`${where}: reference spatial statistics (mu_s) have ${ref.muS.length} values, the '${net.name}' network's spatial features have ${net.spatialDim}`);
  }
}

/** The cache folder: `$DIT_CACHE_DIR/fid-stats`, else `$XDG_CACHE_HOME/dit-ts/fid-stats`, else `~/.cache/dit-ts/fid-stats`. */
export function defaultReferenceCacheDir(): string {
  const env = process.env;
  if (env.DIT_CACHE_DIR) return join(env.DIT_CACHE_DIR, "fid-stats");
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "dit-ts", "fid-stats");
}

/** Cache key of (dataset contents, split, network, weights, format): 24 hex digits of a SHA-256. */
export function referenceCacheKey(net: NetworkIdentity, set: Pick<ImageSet, "fingerprint">, split: Split | null = null): string {
  const id = { format: REFERENCE_STATS_FORMAT, net: net.name, weights: net.weightsKey, d: net.featureDim, ds: net.spatialDim, data: set.fingerprint, split };
  return createHash("sha256").update(JSON.stringify(id)).digest("hex").slice(0, 24);
}

export interface ReferenceStatsOptions {
  /** A dataset path (see openImageSet: IDX folder, image folder, flat folder of images, `.npz` arr_0) or an opened set. */
  data: string | ImageSet;
  /** A network or its name (default: fmnist for grey 28/32-px images, else inception). A name is opened and disposed here. */
  net?: FeatureNetwork | FeatureNetworkName;
  /** Weights of a network given by name. */
  weights?: OpenFeatureNetworkOptions["weights"];
  /** Dataset split (IDX: train / t10k files). Default train. */
  split?: Split;
  /** Data-layer image size (default 32 for IDX, 256 for image folders). */
  imageSize?: number;
  /** Default: defaultReferenceCacheDir(). */
  cacheDir?: string;
  /** false: neither read nor write the cache. Default true. */
  cache?: boolean;
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface ReferenceStatsResult {
  stats: ReferenceStats;
  /** True when read from the cache. */
  cached: boolean;
  /** The cache entry (read or written), or null with `cache: false`. */
  cachePath: string | null;
  set: ImageSet;
}

/**
 * Reference statistics of a dataset for a network, computed once and cached
 * under `cacheDir/<net>-<key>.npz`; the key (referenceCacheKey) changes with
 * the dataset's contents, the split and the network's weights. A cache entry
 * that cannot be read or whose metadata disagrees is recomputed and replaced.
 */
export async function referenceStats(opts: ReferenceStatsOptions): Promise<ReferenceStatsResult> {
  const split = opts.split ?? null;
  const set = typeof opts.data === "string" ? openImageSet(opts.data, { split: opts.split, imageSize: opts.imageSize }) : opts.data;
  const owned = opts.net === undefined || typeof opts.net === "string";
  const name = (opts.net as FeatureNetworkName | undefined) ?? defaultFeatureNetwork(imageSetShape(set), set.read(0, Math.min(set.count, 16)));
  const net = owned ? await openFeatureNetwork(name, { weights: opts.weights }) : (opts.net as FeatureNetwork);
  try {
    const useCache = opts.cache ?? true;
    const cachePath = useCache ? join(opts.cacheDir ?? defaultReferenceCacheDir(), `${net.name}-${referenceCacheKey(net, set, split)}.npz`) : null;
    if (cachePath && existsSync(cachePath)) {
      try {
        const stats = readReferenceStats(cachePath);
        const m = stats.meta;
        if (m && m.format === REFERENCE_STATS_FORMAT && m.network === net.name && m.weightsKey === net.weightsKey && m.dataset.fingerprint === set.fingerprint && stats.features) {
          return { stats, cached: true, cachePath, set };
        }
      } catch {
        /* unreadable entry: recompute and replace it */
      }
    }
    const stats = await computeReferenceStats(net, set, { split, batch: opts.batch, onProgress: opts.onProgress });
    if (cachePath) writeReferenceStats(cachePath, stats);
    return { stats, cached: false, cachePath, set };
  } finally {
    if (owned) await net.dispose();
  }
}
