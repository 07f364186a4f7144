/**
 * A small Fashion-MNIST classifier trained by this project, for evaluating
 * generated samples: its logits give a class-accuracy score (is a sample of
 * class c classified as c?) and its penultimate features can feed FID.
 *
 *   x (N, 1, 32, 32) in [-1, 1]  (Fashion-MNIST padded 28→32, as openDataset)
 *   conv1 3×3, 1→32, stride 1, pad 1 + ReLU     → (N, 32, 32, 32)
 *   conv2 3×3, 32→64, stride 2, pad 1 + ReLU    → (N, 64, 16, 16)
 *   conv3 3×3, 64→64, stride 2, pad 1 + ReLU    → (N, 64, 8, 8)
 *   flatten (C, H, W order)                     → (N, 4096)
 *   fc1 4096→128 + ReLU = the "features"        → (N, 128)
 *   fc2 128→10 = the logits                     → (N, 10)
 *
 * Weights use PyTorch layouts ([out, in, kh, kw], [out, in]) and names
 * (`conv1.weight`, …). Training: cross-entropy, host Adam, cosine-decayed
 * learning rate, seeded He-normal init, seeded batch order and random
 * horizontal flips; one step is a compiled `valueAndGrad`.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { nn, numpy as np, valueAndGrad, type Array, type JsTree } from "@jax-js/jax";
import { readSafetensors } from "../io/safetensors.js";
import { loadStateDict, saveStateDict, subtree, type StateDict } from "../io/state-dict.js";
import { linear, type LinearParams } from "../model/layers.js";
import { compile } from "../runtime/compile.js";
import { Tensor } from "../runtime/tensor.js";
import { Adam } from "../train/adam.js";
import { Rng } from "../util/rng.js";
import { EvalInputError } from "./errors.js";
import { conv2d, type ConvParams } from "../vae/layers.js";

export const FMNIST_CLASSIFIER_ARCH = "conv3x3(1-32)+relu,conv3x3s2(32-64)+relu,conv3x3s2(64-64)+relu,flatten,linear(4096-128)+relu[features],linear(128-10)[logits]";
export const FMNIST_IMAGE_SIZE = 32;
export const FMNIST_NUM_CLASSES = 10;
export const FMNIST_FEATURE_DIM = 128;

/** Parameter names and shapes, in state-dict order. */
export const FMNIST_CLASSIFIER_SHAPES: ReadonlyMap<string, readonly number[]> = new Map([
  ["conv1.weight", [32, 1, 3, 3]],
  ["conv1.bias", [32]],
  ["conv2.weight", [64, 32, 3, 3]],
  ["conv2.bias", [64]],
  ["conv3.weight", [64, 64, 3, 3]],
  ["conv3.bias", [64]],
  ["fc1.weight", [FMNIST_FEATURE_DIM, 64 * 8 * 8]],
  ["fc1.bias", [FMNIST_FEATURE_DIM]],
  ["fc2.weight", [FMNIST_NUM_CLASSES, FMNIST_FEATURE_DIM]],
  ["fc2.bias", [FMNIST_NUM_CLASSES]],
]);

export interface FmnistClassifierParams {
  conv1: ConvParams;
  conv2: ConvParams;
  conv3: ConvParams;
  fc1: LinearParams;
  fc2: LinearParams;
}

const PAD1: [number, number][] = [
  [1, 1],
  [1, 1],
];

/** The forward pass: (N, 1, 32, 32) → [logits (N, 10), features (N, 128)]. */
export function fmnistClassifierForward(p: FmnistClassifierParams, x: Array): [Array, Array] {
  const n = x.shape[0]!;
  let h = nn.relu(conv2d(p.conv1, x, 1, PAD1)); // (N, 32, 32, 32)
  h = nn.relu(conv2d(p.conv2, h, 2, PAD1)); // (N, 64, 16, 16)
  h = nn.relu(conv2d(p.conv3, h, 2, PAD1)); // (N, 64, 8, 8)
  const features = nn.relu(linear(p.fc1, h.reshape([n, 64 * 8 * 8]))); // (N, 128)
  const logits = linear(p.fc2, features.ref); // (N, 10)
  return [logits, features];
}

/** Mean cross-entropy against one-hot labels (N, 10). */
export function fmnistClassifierLoss(p: FmnistClassifierParams, x: Array, oneHot: Array): Array {
  const n = x.shape[0]!;
  const [logits, features] = fmnistClassifierForward(p, x);
  features.dispose();
  return np.sum(nn.logSoftmax(logits, -1).mul(oneHot)).mul(-1 / n);
}

/** Seeded He-normal init (std √(2 / fan_in)) for weights, zero biases. */
export function initFmnistClassifier(seed = 0): StateDict {
  const rng = new Rng(seed);
  const out: StateDict = new Map();
  for (const [name, shape] of FMNIST_CLASSIFIER_SHAPES) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = name.endsWith(".bias") ? new Float32Array(n) : rng.normals(n, Math.sqrt(2 / shape.slice(1).reduce((a, b) => a * b, 1)));
    out.set(name, new Tensor(data, [...shape]));
  }
  return out;
}

/** The package root (nearest folder above this file holding package.json). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("dit-ts: cannot find the package root (no package.json above src/eval)");
    dir = up;
  }
}

/** The shipped weights: `models/fmnist-classifier/classifier.safetensors`. */
export const FMNIST_CLASSIFIER_PATH: string = join(packageRoot(), "models", "fmnist-classifier", "classifier.safetensors");

export interface FmnistClassifier {
  weights: StateDict;
  /** The safetensors metadata (architecture, steps, seed, test_accuracy, …). */
  metadata: Record<string, string>;
}

function checkWeights(weights: StateDict, where: string): void {
  for (const [k, shape] of FMNIST_CLASSIFIER_SHAPES) {
    const t = weights.get(k);
    if (!t) throw new EvalInputError(`${where}: missing tensor '${k}' (expected shape [${shape.join(", ")}])`);
    if (t.shape.join() !== shape.join()) throw new EvalInputError(`${where}: tensor '${k}' has shape [${t.shape.join(", ")}], expected [${shape.join(", ")}]`);
  }
}

/** Load the classifier (default: the shipped weights). */
export function loadFmnistClassifier(path: string = FMNIST_CLASSIFIER_PATH): FmnistClassifier {
  if (!existsSync(path)) throw new EvalInputError(`loadFmnistClassifier: no weights at ${path} (train them with bench/train-fmnist-classifier.ts)`);
  const weights = loadStateDict(path);
  checkWeights(weights, path);
  return { weights, metadata: readSafetensors(path).metadata };
}

/** Save weights + string metadata atomically as safetensors. */
export function saveFmnistClassifier(path: string, weights: StateDict, metadata: Record<string, string>): void {
  checkWeights(weights, path);
  saveStateDict(path, weights, { architecture: FMNIST_CLASSIFIER_ARCH, ...metadata });
}

export interface ClassifyResult {
  /** (n, 10) row-major. */
  logits: Float32Array;
  /** (n, 128) row-major: the penultimate ReLU activations. */
  features: Float32Array;
}

/**
 * Run the classifier on `n` images (n, 1, 32, 32) float32 in [-1, 1], in
 * batches of `batch` (default 250; the last batch is zero-padded so one
 * compiled signature serves all).
 */
export async function classify(model: FmnistClassifier | StateDict, images: Float32Array, n: number, opts: { batch?: number } = {}): Promise<ClassifyResult> {
  const weights = model instanceof Map ? model : model.weights;
  checkWeights(weights, "classify");
  const per = FMNIST_IMAGE_SIZE * FMNIST_IMAGE_SIZE;
  if (!Number.isInteger(n) || n < 0) throw new EvalInputError(`classify: n must be a non-negative integer, got ${n}`);
  if (images.length !== n * per) throw new EvalInputError(`classify: expected ${n} images of 1×32×32 (${n * per} floats), got ${images.length} floats`);
  const batch = Math.max(1, Math.min(opts.batch ?? 250, Math.max(n, 1)));
  const logits = new Float32Array(n * FMNIST_NUM_CLASSES);
  const features = new Float32Array(n * FMNIST_FEATURE_DIM);
  if (n === 0) return { logits, features };
  const fwd = compile(fmnistClassifierForward as never);
  const params = subtree(weights, "");
  try {
    for (let s = 0; s < n; s += batch) {
      const b = Math.min(batch, n - s);
      const x = new Float32Array(batch * per);
      x.set(images.subarray(s * per, (s + b) * per));
      const [l, f] = (await fwd(params, new Tensor(x, [batch, 1, FMNIST_IMAGE_SIZE, FMNIST_IMAGE_SIZE]))) as unknown as [Tensor, Tensor];
      logits.set((l.data as Float32Array).subarray(0, b * FMNIST_NUM_CLASSES), s * FMNIST_NUM_CLASSES);
      features.set((f.data as Float32Array).subarray(0, b * FMNIST_FEATURE_DIM), s * FMNIST_FEATURE_DIM);
    }
  } finally {
    await fwd.dispose();
  }
  return { logits, features };
}

/** Argmax class of each row of (n, 10) logits. */
export function predictedClasses(logits: Float32Array): Int32Array {
  const n = logits.length / FMNIST_NUM_CLASSES;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < FMNIST_NUM_CLASSES; c++) if (logits[i * FMNIST_NUM_CLASSES + c]! > logits[i * FMNIST_NUM_CLASSES + best]!) best = c;
    out[i] = best;
  }
  return out;
}

export interface ClassAccuracy {
  /** Fraction of all images classified as their label. */
  accuracy: number;
  /** Per class: fraction of that class's images classified correctly (NaN when none). */
  perClass: number[];
  /** Images per class. */
  counts: number[];
}

/** Accuracy of (n, 10) logits against labels, overall and per class. */
export function classifierAccuracy(logits: Float32Array, labels: ArrayLike<number>): ClassAccuracy {
  if (logits.length !== labels.length * FMNIST_NUM_CLASSES) throw new EvalInputError(`classifierAccuracy: ${labels.length} labels need ${labels.length * FMNIST_NUM_CLASSES} logits, got ${logits.length}`);
  const pred = predictedClasses(logits);
  const counts = new globalThis.Array<number>(FMNIST_NUM_CLASSES).fill(0);
  const hits = new globalThis.Array<number>(FMNIST_NUM_CLASSES).fill(0);
  let total = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (!(Number.isInteger(y) && y >= 0 && y < FMNIST_NUM_CLASSES)) throw new EvalInputError(`classifierAccuracy: label ${i} is ${y}, expected 0..9`);
    counts[y]!++;
    if (pred[i] === y) {
      hits[y]!++;
      total++;
    }
  }
  return { accuracy: labels.length ? total / labels.length : NaN, perClass: hits.map((h, c) => h / counts[c]!), counts };
}

export interface TrainFmnistOptions {
  /** (N, 1, 32, 32) float32 in [-1, 1]. */
  images: Float32Array;
  labels: Int32Array;
  steps: number;
  batch?: number;
  /** Peak Adam learning rate (default 1e-3), cosine-decayed to 0 over `steps`. */
  lr?: number;
  seed?: number;
  /** Random horizontal flips (default true). */
  flip?: boolean;
  onStep?: (step: number, loss: number) => void;
}

/** Train from the seeded init; deterministic given the seed. Returns the weights. */
export async function trainFmnistClassifier(opts: TrainFmnistOptions): Promise<StateDict> {
  const S = FMNIST_IMAGE_SIZE;
  const per = S * S;
  const N = opts.labels.length;
  if (opts.images.length !== N * per) throw new EvalInputError(`trainFmnistClassifier: ${N} labels need ${N * per} image floats (N, 1, 32, 32), got ${opts.images.length}`);
  if (!(Number.isInteger(opts.steps) && opts.steps >= 1)) throw new EvalInputError(`trainFmnistClassifier: steps must be an integer ≥ 1, got ${opts.steps}`);
  const B = opts.batch ?? 128;
  const lr0 = opts.lr ?? 1e-3;
  const seed = opts.seed ?? 0;
  const flip = opts.flip ?? true;
  const weights = initFmnistClassifier(seed);
  const adamOpts = { lr: lr0 };
  const adam = new Adam(weights, [...weights.keys()], adamOpts);
  const order = new Rng((seed ^ 0x5eed0011) >>> 0);
  const flips = new Rng((seed ^ 0x5eed0012) >>> 0);
  const nextIndex = order.epochIndices(N);
  const step = compile(valueAndGrad(fmnistClassifierLoss as never) as never);
  try {
    for (let s = 1; s <= opts.steps; s++) {
      const x = new Float32Array(B * per);
      const y = new Float32Array(B * FMNIST_NUM_CLASSES);
      for (let b = 0; b < B; b++) {
        const i = nextIndex();
        const src = opts.images.subarray(i * per, (i + 1) * per);
        if (flip && flips.uniform() < 0.5) {
          for (let r = 0; r < S; r++) for (let c = 0; c < S; c++) x[b * per + r * S + c] = src[r * S + (S - 1 - c)]!;
        } else {
          x.set(src, b * per);
        }
        y[b * FMNIST_NUM_CLASSES + opts.labels[i]!] = 1;
      }
      adamOpts.lr = 0.5 * lr0 * (1 + Math.cos((Math.PI * (s - 1)) / opts.steps));
      const [loss, grads] = (await step(subtree(weights, ""), new Tensor(x, [B, 1, S, S]), new Tensor(y, [B, FMNIST_NUM_CLASSES]))) as unknown as [Tensor, JsTree<Tensor>];
      const l = loss.data[0] as number;
      if (!Number.isFinite(l)) throw new EvalInputError(`trainFmnistClassifier: loss is ${l} at step ${s}; lower the learning rate`);
      adam.step(grads);
      opts.onStep?.(s, l);
    }
  } finally {
    await step.dispose();
  }
  return weights;
}
