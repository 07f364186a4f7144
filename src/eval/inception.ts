/**
 * pytorch-fid's FID Inception-v3 as a `FeatureNetwork` ("inception"): pool3
 * features for FID and precision/recall, sFID's spatial features, and the
 * 1008 logits for the Inception Score.
 *
 * The network is pytorch-fid v0.3.0's `InceptionV3([3], resize_input=True,
 * normalize_input=True, use_fid_inception=True)`: torchvision's Inception3
 * (1008 classes, no aux logits) with FIDInceptionA/C/E_1/E_2 blocks, whose
 * weights are `pt_inception-2015-12-05-6726825d.pth` (the TF FID graph's,
 * ported). Layers are in ./inception-layers.ts.
 *
 *   uint8 (N, H, W, C), C ∈ {1, 3}    grey is replicated to RGB (pytorch-fid loads images as RGB)
 *   → float (N, 3, H, W) = v / 255     torchvision ToTensor
 *   → bilinear resize to 299×299       F.interpolate(align_corners=False), no antialiasing
 *   → 2x − 1                           normalize_input
 *   → stem, Mixed_5b … Mixed_7c         (N, 2048, 8, 8)
 *   → mean over 8×8 = pool3            (N, 2048)   FID
 *   → fc(pool3) = logits               (N, 1008)   Inception Score
 *   Mixed_6d.branch1x1 (after BN + ReLU), channels 0..6, flattened C, H, W
 *                                      (N, 7·17·17 = 2023)   sFID: ADM's `mixed_6/conv`
 *
 * Nothing downloads at run time: the weights come from `weights`, the
 * DIT_INCEPTION_WEIGHTS variable or ~/.cache/dit-ts/, and a missing file is an
 * error saying which file is needed, where it is published and where to put
 * it. The real file is a PyTorch pickle (zip or legacy format; read without
 * executing code); a `.safetensors` with the same names works too. Channel
 * counts come from the weights, so narrowed test networks run as well.
 */
import { DitError } from "../errors.js";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { numpy as np, type Array } from "@jax-js/jax";
import { floatTensorToF32, isFloatDType, readSafetensors, type StTensor } from "../io/safetensors.js";
import { subtree, type StateDict } from "../io/state-dict-tree.js";
import { loadTorchStateDict, type TorchLoadOptions } from "../io/torch-checkpoint.js";
import { linear, type LinearParams } from "../model/layers.js";
import { compile, type CompiledFunction } from "../runtime/compile.js";
import { Tensor } from "../runtime/tensor.js";
import { EvalInputError } from "./errors.js";
import type { ExtractOptions, FeatureBatch, FeatureNetwork } from "./feature-network.js";
import { basicConv2d, inceptionA, inceptionB, inceptionC, inceptionD, inceptionE, maxPool3x3s2, type BasicConv2dParams } from "./inception-layers.js";

/** The published weights' file name (torch.hub naming: 6726825d is a SHA-256 prefix). */
export const INCEPTION_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth";
/** Where pytorch-fid publishes them. */
export const INCEPTION_WEIGHTS_URL = `https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/${INCEPTION_WEIGHTS_FILE}`;
/** Environment variable naming the weights file. */
export const INCEPTION_WEIGHTS_ENV = "DIT_INCEPTION_WEIGHTS";
/** The network's input side: every image is resized to 299×299. */
export const INCEPTION_SIZE = 299;
/** sFID keeps the first 7 channels of Mixed_6d.branch1x1 (ADM's `mixed_6/conv[..., :7]`). */
export const SFID_CHANNELS = 7;
/** Side of the 17×17 maps of Mixed_6a … 6e for a 299×299 input. */
export const SFID_SIDE = 17;
/** Length of one sFID feature row: 7 · 17 · 17 = 2023. */
export const SFID_DIM = SFID_CHANNELS * SFID_SIDE * SFID_SIDE;

/** Thrown when the Inception weights are missing or are not pytorch-fid's layout; says what is needed. */
export class InceptionWeightsError extends DitError {
  override name = "InceptionWeightsError";
}

// ---------------------------------------------------------------------------
// The layout: every BasicConv2d, its kernel and the tensor it reads

/** A BasicConv2d of a block: name, kernel (kh, kw) and input ("x": the block's input, else another conv). */
type ConvSpec = readonly [name: string, kh: number, kw: number, from: string];
interface BlockSpec {
  convs: readonly ConvSpec[];
  /** Concatenated outputs, in order ("x": the block's input, max-pooled). */
  out: readonly string[];
}

const BLOCKS: Record<"A" | "B" | "C" | "D" | "E", BlockSpec> = {
  A: {
    convs: [["branch1x1", 1, 1, "x"], ["branch5x5_1", 1, 1, "x"], ["branch5x5_2", 5, 5, "branch5x5_1"], ["branch3x3dbl_1", 1, 1, "x"], ["branch3x3dbl_2", 3, 3, "branch3x3dbl_1"], ["branch3x3dbl_3", 3, 3, "branch3x3dbl_2"], ["branch_pool", 1, 1, "x"]],
    out: ["branch1x1", "branch5x5_2", "branch3x3dbl_3", "branch_pool"],
  },
  B: {
    convs: [["branch3x3", 3, 3, "x"], ["branch3x3dbl_1", 1, 1, "x"], ["branch3x3dbl_2", 3, 3, "branch3x3dbl_1"], ["branch3x3dbl_3", 3, 3, "branch3x3dbl_2"]],
    out: ["branch3x3", "branch3x3dbl_3", "x"],
  },
  C: {
    convs: [
      ["branch1x1", 1, 1, "x"],
      ["branch7x7_1", 1, 1, "x"], ["branch7x7_2", 1, 7, "branch7x7_1"], ["branch7x7_3", 7, 1, "branch7x7_2"],
      ["branch7x7dbl_1", 1, 1, "x"], ["branch7x7dbl_2", 7, 1, "branch7x7dbl_1"], ["branch7x7dbl_3", 1, 7, "branch7x7dbl_2"], ["branch7x7dbl_4", 7, 1, "branch7x7dbl_3"], ["branch7x7dbl_5", 1, 7, "branch7x7dbl_4"],
      ["branch_pool", 1, 1, "x"],
    ],
    out: ["branch1x1", "branch7x7_3", "branch7x7dbl_5", "branch_pool"],
  },
  D: {
    convs: [["branch3x3_1", 1, 1, "x"], ["branch3x3_2", 3, 3, "branch3x3_1"], ["branch7x7x3_1", 1, 1, "x"], ["branch7x7x3_2", 1, 7, "branch7x7x3_1"], ["branch7x7x3_3", 7, 1, "branch7x7x3_2"], ["branch7x7x3_4", 3, 3, "branch7x7x3_3"]],
    out: ["branch3x3_2", "branch7x7x3_4", "x"],
  },
  E: {
    convs: [
      ["branch1x1", 1, 1, "x"],
      ["branch3x3_1", 1, 1, "x"], ["branch3x3_2a", 1, 3, "branch3x3_1"], ["branch3x3_2b", 3, 1, "branch3x3_1"],
      ["branch3x3dbl_1", 1, 1, "x"], ["branch3x3dbl_2", 3, 3, "branch3x3dbl_1"], ["branch3x3dbl_3a", 1, 3, "branch3x3dbl_2"], ["branch3x3dbl_3b", 3, 1, "branch3x3dbl_2"],
      ["branch_pool", 1, 1, "x"],
    ],
    out: ["branch1x1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool"],
  },
};

/** The whole network in module order: the stem as one chain, then the Mixed blocks. */
const STEM: readonly ConvSpec[] = [["Conv2d_1a_3x3", 3, 3, "x"], ["Conv2d_2a_3x3", 3, 3, "Conv2d_1a_3x3"], ["Conv2d_2b_3x3", 3, 3, "Conv2d_2a_3x3"], ["Conv2d_3b_1x1", 1, 1, "Conv2d_2b_3x3"], ["Conv2d_4a_3x3", 3, 3, "Conv2d_3b_1x1"]];
const MIXED: readonly (readonly [string, keyof typeof BLOCKS])[] = [
  ["Mixed_5b", "A"], ["Mixed_5c", "A"], ["Mixed_5d", "A"], ["Mixed_6a", "B"],
  ["Mixed_6b", "C"], ["Mixed_6c", "C"], ["Mixed_6d", "C"], ["Mixed_6e", "C"],
  ["Mixed_7a", "D"], ["Mixed_7b", "E"], ["Mixed_7c", "E"],
];
const BN_PARAMS = ["weight", "bias", "running_mean", "running_var"] as const;

/** What the weights say about the network (channel counts are read from them). */
export interface InceptionLayout {
  /** pool3 width: 2048 for the real network. */
  featureDim: number;
  /** fc outputs: 1008. */
  numClasses: number;
  /** Parameter names the network uses (BasicConv2d conv + BN, fc), in module order. */
  names: string[];
}

/**
 * Check that `weights` hold pytorch-fid's FID Inception: every name, conv
 * kernels as the architecture has them, input channels matching what feeds
 * each conv, BN vectors as long as the conv's outputs, fc over pool3, and at
 * least 7 channels in Mixed_6d.branch1x1 (sFID). Throws one
 * InceptionWeightsError listing every missing, misshapen and unexpected tensor.
 */
export function checkInceptionWeights(weights: ReadonlyMap<string, { shape: readonly number[] }>, source = "weights"): InceptionLayout {
  const missing: string[] = [];
  const wrong: string[] = [];
  const names: string[] = [];
  const shapeOf = (name: string) => {
    names.push(name);
    const t = weights.get(name);
    if (!t) missing.push(name);
    return t?.shape;
  };
  const expect = (name: string, got: readonly number[] | undefined, want: readonly number[]) => {
    if (got && (got.length !== want.length || got.some((d, i) => !Number.isNaN(want[i]) && d !== want[i]))) {
      wrong.push(`${name} is [${got.join(", ")}], expected [${want.map((d) => (Number.isNaN(d) ? "*" : d)).join(", ")}]`);
    }
  };
  /** One BasicConv2d reading `cin` channels (NaN: unknown); returns its output channels (NaN when unknown). */
  const conv = (prefix: string, kh: number, kw: number, cin: number): number => {
    const w = shapeOf(`${prefix}.conv.weight`);
    expect(`${prefix}.conv.weight`, w, [NaN, cin, kh, kw]);
    const out = w && w.length === 4 && w[0]! > 0 ? w[0]! : NaN;
    for (const b of BN_PARAMS) expect(`${prefix}.bn.${b}`, shapeOf(`${prefix}.bn.${b}`), [out]);
    return out;
  };
  const block = (prefix: string, spec: BlockSpec, cin: number): number => {
    const ch = new Map<string, number>([["x", cin]]);
    for (const [name, kh, kw, from] of spec.convs) ch.set(name, conv(`${prefix}.${name}`, kh, kw, ch.get(from)!));
    return spec.out.reduce((s, o) => s + ch.get(o)!, 0);
  };
  const stem = new Map<string, number>([["x", 3]]);
  for (const [name, kh, kw, from] of STEM) stem.set(name, conv(name, kh, kw, stem.get(from)!));
  let c = stem.get("Conv2d_4a_3x3")!;
  for (const [prefix, kind] of MIXED) c = block(prefix, BLOCKS[kind], c);
  const fcW = shapeOf("fc.weight");
  expect("fc.weight", fcW, [NaN, c]);
  const numClasses = fcW && fcW.length === 2 ? fcW[0]! : NaN;
  expect("fc.bias", shapeOf("fc.bias"), [numClasses]);
  const tap = weights.get("Mixed_6d.branch1x1.conv.weight")?.shape[0];
  if (tap !== undefined && tap < SFID_CHANNELS) wrong.push(`Mixed_6d.branch1x1 has ${tap} output channels; sFID needs at least ${SFID_CHANNELS}`);
  const known = new Set(names);
  const unexpected = [...weights.keys()].filter((k) => !known.has(k) && !k.endsWith(".num_batches_tracked"));
  if (missing.length || wrong.length || unexpected.length) {
    const list = (xs: string[]) => xs.slice(0, 8).join("; ") + (xs.length > 8 ? `; … (${xs.length - 8} more)` : "");
    const parts = [
      missing.length ? `${missing.length} missing (${list(missing)})` : "",
      wrong.length ? `${wrong.length} with the wrong shape (${list(wrong)})` : "",
      unexpected.length ? `${unexpected.length} unexpected (${list(unexpected)})` : "",
    ].filter(Boolean);
    throw new InceptionWeightsError(`${source}: not pytorch-fid's FID Inception weights (${INCEPTION_WEIGHTS_FILE} layout, ${names.length} tensors): ${parts.join("; ")}`);
  }
  return { featureDim: c, numClasses, names };
}

// ---------------------------------------------------------------------------
// The forward pass

/** Parameters as a tree named like the state dict (`p.Mixed_5b.branch1x1.conv.weight`). */
export interface InceptionParams {
  Conv2d_1a_3x3: BasicConv2dParams;
  Conv2d_2a_3x3: BasicConv2dParams;
  Conv2d_2b_3x3: BasicConv2dParams;
  Conv2d_3b_1x1: BasicConv2dParams;
  Conv2d_4a_3x3: BasicConv2dParams;
  Mixed_5b: Parameters<typeof inceptionA>[0];
  Mixed_5c: Parameters<typeof inceptionA>[0];
  Mixed_5d: Parameters<typeof inceptionA>[0];
  Mixed_6a: Parameters<typeof inceptionB>[0];
  Mixed_6b: Parameters<typeof inceptionC>[0];
  Mixed_6c: Parameters<typeof inceptionC>[0];
  Mixed_6d: Parameters<typeof inceptionC>[0];
  Mixed_6e: Parameters<typeof inceptionC>[0];
  Mixed_7a: Parameters<typeof inceptionD>[0];
  Mixed_7b: Parameters<typeof inceptionE>[0];
  Mixed_7c: Parameters<typeof inceptionE>[0];
  fc: LinearParams;
}

/** The network's outputs. */
export interface InceptionHeads {
  /** (N, 2048): pool3, the FID features. */
  pool3: Array;
  /** (N, 7·17·17): Mixed_6d.branch1x1 after BN + ReLU, channels 0..6, flattened (C, H, W). */
  spatial: Array;
  /** (N, 1008): fc(pool3). */
  logits: Array;
}

/** Intermediate tensors a forward can report (pytorch-fid's output blocks 0–2, and two block outputs). */
export type InceptionTapName = "block0" | "block1" | "mixed_5b" | "mixed_6c" | "block2";

/**
 * The forward pass on preprocessed input (N, 3, 299, 299) in [−1, 1].
 * `tap(name, v)` receives intermediates (references it must consume).
 */
export function fidInceptionForward(p: InceptionParams, x: Array, tap?: (name: InceptionTapName, v: Array) => void): InceptionHeads {
  const n = x.shape[0]!;
  const record = (name: InceptionTapName, v: Array): Array => (tap?.(name, v.ref), v);
  x = basicConv2d(p.Conv2d_1a_3x3, x, 2); // (N, 32, 149, 149)
  x = basicConv2d(p.Conv2d_2a_3x3, x); // (N, 32, 147, 147)
  x = basicConv2d(p.Conv2d_2b_3x3, x, 1, [[1, 1], [1, 1]]); // (N, 64, 147, 147)
  x = record("block0", maxPool3x3s2(x)); // (N, 64, 73, 73)
  x = basicConv2d(p.Conv2d_3b_1x1, x); // (N, 80, 73, 73)
  x = basicConv2d(p.Conv2d_4a_3x3, x); // (N, 192, 71, 71)
  x = record("block1", maxPool3x3s2(x)); // (N, 192, 35, 35)
  x = record("mixed_5b", inceptionA(p.Mixed_5b, x)); // (N, 256, 35, 35)
  x = inceptionA(p.Mixed_5c, x); // (N, 288, 35, 35)
  x = inceptionA(p.Mixed_5d, x); // (N, 288, 35, 35)
  x = inceptionB(p.Mixed_6a, x); // (N, 768, 17, 17)
  x = inceptionC(p.Mixed_6b, x); // (N, 768, 17, 17)
  x = record("mixed_6c", inceptionC(p.Mixed_6c, x)); // (N, 768, 17, 17)
  let spatial: Array | undefined;
  x = inceptionC(p.Mixed_6d, x, (b) => {
    // sFID: ADM's `mixed_6/conv` is Mixed_6d's branch1x1 after BN + ReLU; keep its first 7 channels
    const [, , h, w] = b.shape as [number, number, number, number];
    spatial = b.slice([], [0, SFID_CHANNELS]).reshape([n, SFID_CHANNELS * h * w]); // (N, 7·17·17)
  });
  x = record("block2", inceptionC(p.Mixed_6e, x)); // (N, 768, 17, 17)
  x = inceptionD(p.Mixed_7a, x); // (N, 1280, 8, 8)
  x = inceptionE(p.Mixed_7b, x, "avg"); // (N, 2048, 8, 8)
  x = inceptionE(p.Mixed_7c, x, "max"); // (N, 2048, 8, 8)
  const pool3 = np.mean(x, [2, 3]); // (N, 2048): adaptive average pool to 1×1
  const logits = linear(p.fc, pool3.ref); // (N, 1008)
  return { pool3, spatial: spatial!, logits };
}

/** The forward with every tap as an output too (for tests and inspection). */
export function fidInceptionTaps(p: InceptionParams, x: Array): InceptionHeads & Record<InceptionTapName, Array> {
  const taps: Partial<Record<InceptionTapName, Array>> = {};
  const heads = fidInceptionForward(p, x, (name, v) => {
    taps[name] = v;
  });
  return { ...(taps as Record<InceptionTapName, Array>), ...heads };
}

// ---------------------------------------------------------------------------
// Preprocessing (on the host)

/**
 * `F.interpolate(x, size, mode="bilinear", align_corners=False)` without
 * antialiasing, on float NCHW: per axis src = (dst + 0.5)·in/out − 0.5 clamped
 * below at 0, i0 = ⌊src⌋, i1 = min(i0 + 1, in − 1), weights 1 − (src − i0) and
 * src − i0. Computed in float64, rounded once.
 */
export function resizeBilinear(x: Float32Array, shape: readonly [number, number, number, number], size: readonly [number, number] = [INCEPTION_SIZE, INCEPTION_SIZE]): Float32Array {
  const [n, c, h, w] = shape;
  const [oh, ow] = size;
  if (x.length !== n * c * h * w) throw new EvalInputError(`resizeBilinear: shape [${shape.join(", ")}] needs ${n * c * h * w} values, got ${x.length}`);
  const taps = (inn: number, out: number) => {
    const i0 = new Int32Array(out);
    const i1 = new Int32Array(out);
    const l1 = new Float64Array(out);
    for (let d = 0; d < out; d++) {
      const src = Math.max(0, ((d + 0.5) * inn) / out - 0.5);
      i0[d] = Math.min(Math.floor(src), inn - 1);
      i1[d] = Math.min(i0[d]! + 1, inn - 1);
      l1[d] = src - i0[d]!;
    }
    return { i0, i1, l1 };
  };
  const r = taps(h, oh);
  const q = taps(w, ow);
  const out = new Float32Array(n * c * oh * ow);
  for (let m = 0; m < n * c; m++) {
    const src = m * h * w;
    const dst = m * oh * ow;
    for (let y = 0; y < oh; y++) {
      const a = src + r.i0[y]! * w;
      const b = src + r.i1[y]! * w;
      const ly = r.l1[y]!;
      for (let xx = 0; xx < ow; xx++) {
        const lx = q.l1[xx]!;
        const [c0, c1] = [q.i0[xx]!, q.i1[xx]!];
        const top = (1 - lx) * x[a + c0]! + lx * x[a + c1]!;
        const bottom = (1 - lx) * x[b + c0]! + lx * x[b + c1]!;
        out[dst + y * ow + xx] = (1 - ly) * top + ly * bottom;
      }
    }
  }
  return out;
}

/** Check an extract() shape: [N, H, W, C] with C ∈ {1, 3} and `bytes` = N·H·W·C. */
function checkImageShape(shape: readonly number[], bytes: number): void {
  const s = `[${shape.join(", ")}]`;
  if (shape.length !== 4 || !shape.every((v) => Number.isInteger(v) && v >= 0)) throw new EvalInputError(`inception network: bad image shape ${s}, expected [N, H, W, C] of non-negative integers`);
  const [n, h, w, c] = shape as [number, number, number, number];
  if (c !== 1 && c !== 3) throw new EvalInputError(`inception network: expected 1 (grey) or 3 (RGB) channels, got ${c} (shape ${s})`);
  if (n > 0 && (h < 1 || w < 1)) throw new EvalInputError(`inception network: images must be at least 1×1, got ${h}×${w}`);
  if (bytes !== n * h * w * c) throw new EvalInputError(`inception network: shape ${s} needs ${n * h * w * c} bytes, got ${bytes}`);
}

/**
 * uint8 images (N, H, W, C) → the network's input (N, 3, 299, 299): v / 255
 * (grey replicated to RGB), bilinear resize to 299 (skipped at 299×299, where
 * it is the identity), then 2x − 1.
 */
export function inceptionInput(images: Uint8Array, shape: readonly [number, number, number, number]): Float32Array {
  checkImageShape(shape, images.length);
  const [n, h, w, c] = shape;
  const rgb = new Float32Array(n * 3 * h * w); // (N, 3, H, W) in [0, 1]
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < 3; ch++) {
      const o = (i * 3 + ch) * h * w;
      const from = c === 1 ? 0 : ch;
      for (let p = 0; p < h * w; p++) rgb[o + p] = images[(i * h * w + p) * c + from]! / 255;
    }
  }
  const x = h === INCEPTION_SIZE && w === INCEPTION_SIZE ? rgb : resizeBilinear(rgb, [n, 3, h, w]);
  for (let i = 0; i < x.length; i++) x[i] = 2 * x[i]! - 1;
  return x;
}

// ---------------------------------------------------------------------------
// Weights

/** The default weights location: $DIT_INCEPTION_WEIGHTS, else ~/.cache/dit-ts/pt_inception-2015-12-05-6726825d.pth. */
export function defaultInceptionWeightsPath(): string {
  return process.env[INCEPTION_WEIGHTS_ENV] || join(homedir(), ".cache", "dit-ts", INCEPTION_WEIGHTS_FILE);
}

/**
 * Read Inception weights: a PyTorch file (zip or legacy pickle, read without
 * executing code) or a `.safetensors` with the same names. The int64
 * `*.num_batches_tracked` BN buffers are dropped; every other tensor must be
 * floating point (read as float32). A `.pt` zip's CRC-32s are checked unless
 * `opts.verifyCrc` is false.
 */
export function readInceptionWeights(path: string, opts: TorchLoadOptions = {}): StateDict {
  if (!existsSync(path)) throw new InceptionWeightsError(missingWeightsMessage(path));
  const raw: Map<string, StTensor> = /\.safetensors$/i.test(path) ? readSafetensors(path).tensors : loadTorchStateDict(path, undefined, { verifyCrc: opts.verifyCrc }).stateDict;
  const out: StateDict = new Map();
  for (const [k, t] of raw) {
    if (k.endsWith(".num_batches_tracked")) continue; // BN's step counter: unused in eval
    if (!isFloatDType(t.dtype)) throw new InceptionWeightsError(`${path}: tensor '${k}' is ${t.dtype}; Inception weights must be floating point`);
    out.set(k, new Tensor(floatTensorToF32(t), [...t.shape]));
  }
  return out;
}

function missingWeightsMessage(path: string): string {
  return (
    `the FID Inception weights are not at ${path}. dit-ts downloads nothing: get ${INCEPTION_WEIGHTS_FILE} ` +
    `(pytorch-fid's FID Inception-v3, published at ${INCEPTION_WEIGHTS_URL}) and put it at ` +
    `${join(homedir(), ".cache", "dit-ts", INCEPTION_WEIGHTS_FILE)}, or point ${INCEPTION_WEIGHTS_ENV} (or the weights option) at it`
  );
}

/** First 16 hex digits of SHA-256 over the tensors (sorted by name: name, shape, float32 bytes). */
export function inceptionWeightsKey(weights: StateDict): string {
  const h = createHash("sha256");
  for (const k of [...weights.keys()].sort()) {
    const t = weights.get(k)!;
    const d = t.data as Float32Array;
    h.update(`${k}\0${t.shape.join(",")}\0`);
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest("hex").slice(0, 16);
}

// ---------------------------------------------------------------------------
// The FeatureNetwork

/** The compiled function's outputs, in order. */
function heads(p: InceptionParams, x: Array): [Array, Array, Array] {
  const { pool3, spatial, logits } = fidInceptionForward(p, x);
  return [pool3, spatial, logits];
}

class FidInception implements FeatureNetwork {
  readonly name = "inception" as const;
  readonly spatialDim = SFID_DIM;
  readonly featureDim: number;
  readonly numClasses: number;
  private fwd: CompiledFunction | undefined;
  private readonly params: ReturnType<typeof subtree>;

  constructor(
    weights: StateDict,
    layout: InceptionLayout,
    readonly weightsKey: string,
  ) {
    this.featureDim = layout.featureDim;
    this.numClasses = layout.numClasses;
    this.params = subtree(new Map(layout.names.map((k) => [k, weights.get(k)!])), "");
  }

  async extract(images: Uint8Array, shape: readonly [number, number, number, number], opts: ExtractOptions = {}): Promise<FeatureBatch> {
    checkImageShape(shape, images.length);
    const [n, h, w, c] = shape;
    const batch = opts.batch ?? 8;
    if (!(Number.isInteger(batch) && batch >= 1)) throw new EvalInputError(`inception network: batch must be an integer ≥ 1, got ${batch}`);
    const B = Math.min(batch, Math.max(n, 1));
    const F = this.featureDim;
    const K = this.numClasses;
    const features = new Float32Array(n * F);
    const spatial = new Float32Array(n * SFID_DIM);
    const logits = new Float32Array(n * K);
    const S = INCEPTION_SIZE;
    const per = h * w * c;
    this.fwd ??= compile(heads as never);
    for (let s = 0; s < n; s += B) {
      const b = Math.min(B, n - s);
      const xb = new Float32Array(B * 3 * S * S); // the last batch zero-padded: one compiled signature per batch size
      xb.set(inceptionInput(images.subarray(s * per, (s + b) * per), [b, h, w, c]));
      const [f, sp, l] = (await this.fwd(this.params, new Tensor(xb, [B, 3, S, S]))) as unknown as [Tensor, Tensor, Tensor];
      features.set((f.data as Float32Array).subarray(0, b * F), s * F);
      spatial.set((sp.data as Float32Array).subarray(0, b * SFID_DIM), s * SFID_DIM);
      logits.set((l.data as Float32Array).subarray(0, b * K), s * K);
      opts.onProgress?.(s + b, n);
    }
    return { features, spatial, logits };
  }

  async dispose(): Promise<void> {
    const f = this.fwd;
    this.fwd = undefined;
    await f?.dispose();
  }
}

/**
 * The FID Inception `FeatureNetwork` over a state dict with pytorch-fid's
 * names (checked by checkInceptionWeights; `*.num_batches_tracked` ignored).
 * weightsKey = inceptionWeightsKey(weights).
 */
export function fidInceptionFromStateDict(weights: StateDict, source = "weights"): FeatureNetwork {
  const layout = checkInceptionWeights(weights, source);
  return new FidInception(weights, layout, inceptionWeightsKey(new Map(layout.names.map((k) => [k, weights.get(k)!]))));
}

/**
 * Load pytorch-fid's FID Inception from `weights` (default:
 * defaultInceptionWeightsPath()). Nothing is downloaded: a missing file is an
 * InceptionWeightsError naming the file, where it is published and where to put it.
 */
export async function loadFidInception(opts: { weights?: string; verifyCrc?: boolean } = {}): Promise<FeatureNetwork> {
  const path = opts.weights ?? defaultInceptionWeightsPath();
  return fidInceptionFromStateDict(readInceptionWeights(path, { verifyCrc: opts.verifyCrc }), path);
}
