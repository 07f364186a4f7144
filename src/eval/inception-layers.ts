/**
 * The layers of pytorch-fid's FID Inception-v3 (pytorch-fid v0.3.0
 * `fid_inception_v3()`: torchvision's Inception3 with the FID blocks), written
 * with jax-js on NCHW arrays. Parameters are plain objects named like the
 * PyTorch state dict (`p.branch1x1.conv.weight` is `branch1x1.conv.weight`).
 * Every op consumes its inputs: a value used twice is passed once as `x.ref`.
 *
 * Channel counts come from the weights, so the same code runs the real
 * network and the fixtures' narrowed one (every width divided by 8).
 * Shape comments give the real network's sizes for a 299×299 input.
 *
 * Pooling: our jaxpr → ONNX compiler has no lowering for jax-js's `pool`
 * primitive (`lax.reduceWindow`), so the 3×3 pools here are written with ops
 * it has: shifted slices combined with max / add along one axis at a time
 * (max and sum over a 3×3 window are separable), a stride of 2 as a reshape
 * that keeps every other row, and count_include_pad=False as a division by a
 * constant map of window sizes.
 */
import { lax, nn, numpy as np, type Array } from "@jax-js/jax";

/** BatchNorm2d eps in Inception's BasicConv2d (not PyTorch's default 1e-5). */
export const INCEPTION_BN_EPS = 0.001;

export interface BasicConv2dParams {
  conv: { weight: Array }; // (out, in, kh, kw), no bias
  bn: { weight: Array; bias: Array; running_mean: Array; running_var: Array }; // (out,) each
}

type Pad = [number, number];

/**
 * BasicConv2d: conv (bias=False) → BatchNorm2d(eps=0.001, running statistics) → ReLU.
 * BN = (y − mean) · γ/√(var + eps) + β is folded into the conv: y·s + (β − mean·s), s = γ/√(var + eps).
 */
export function basicConv2d(p: BasicConv2dParams, x: Array, stride = 1, padding: [Pad, Pad] = [[0, 0], [0, 0]]): Array {
  const o = p.conv.weight.shape[0]!;
  const scale = p.bn.weight.div(np.sqrt(p.bn.running_var.add(INCEPTION_BN_EPS))); // (O,)
  const shift = p.bn.bias.sub(p.bn.running_mean.mul(scale.ref)); // (O,)
  const w = p.conv.weight.mul(scale.reshape([o, 1, 1, 1])); // (O, I, kh, kw)
  return nn.relu(lax.convGeneralDilated(x, w, [stride, stride], padding).add(shift.reshape([1, o, 1, 1])));
}

// ---------------------------------------------------------------------------
// 3×3 pooling from slices

/** `x` restricted to [start, end) along `axis`. */
function slab(x: Array, axis: number, start: number, end: number): Array {
  return x.slice(...x.shape.map((_, i): [] | [number, number] => (i === axis ? [start, end] : [])));
}

/** Max (or sum) of every 3 consecutive entries along `axis`: length L → L − 2. */
function window3(x: Array, axis: number, op: "max" | "sum"): Array {
  const L = x.shape[axis]!;
  const [a, b, c] = [slab(x.ref, axis, 0, L - 2), slab(x.ref, axis, 1, L - 1), slab(x, axis, 2, L)];
  return op === "max" ? np.maximum(np.maximum(a, b), c) : a.add(b).add(c);
}

/** Every other entry along `axis`, starting at 0: length L → ⌈L/2⌉ (a stride of 2). */
function everyOther(x: Array, axis: number): Array {
  const L = x.shape[axis]!;
  const o = Math.ceil(L / 2);
  const padded = np.pad(x, x.shape.map((_, i): Pad => (i === axis ? [0, 2 * o - L] : [0, 0]))); // length 2o
  const pairs = padded.reshape([...x.shape.slice(0, axis), o, 2, ...x.shape.slice(axis + 1)]); // (…, o, 2, …)
  return pairs.slice(...pairs.shape.map((_, i): 0 | [] => (i === axis + 1 ? 0 : []))); // (…, o, …)
}

/** One copy of the first and of the last entry on each side along `axis` (L → L + 2). */
function edgePad(x: Array, axis: number): Array {
  const L = x.shape[axis]!;
  return np.concatenate([slab(x.ref, axis, 0, 1), x.ref, slab(x, axis, L - 1, L)], axis);
}

/** `F.max_pool2d(x, 3, stride=2)` (no padding, floor mode): (N, C, H, W) → (N, C, ⌊(H−3)/2⌋+1, ⌊(W−3)/2⌋+1). */
export function maxPool3x3s2(x: Array): Array {
  const rows = everyOther(window3(x, 2, "max"), 2); // (N, C, H', W)
  return everyOther(window3(rows, 3, "max"), 3); // (N, C, H', W')
}

/**
 * `F.max_pool2d(x, 3, stride=1, padding=1)`: PyTorch pads with −∞. Padding
 * with a copy of the edge is the same: every window that holds a padded
 * position also holds the edge entry it copies.
 */
export function maxPool3x3s1p1(x: Array): Array {
  const rows = window3(edgePad(x, 2), 2, "max"); // (N, C, H, W)
  return window3(edgePad(rows, 3), 3, "max"); // (N, C, H, W)
}

/** Real (unpadded) entries in each length-3 window of a length-L axis padded by 1: 2 at the ends, 3 inside. */
function windowCounts(L: number): number[] {
  return globalThis.Array.from({ length: L }, (_, i) => 3 - (i === 0 ? 1 : 0) - (i === L - 1 ? 1 : 0));
}

/**
 * `F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)`: border
 * windows divide by the number of real pixels (4, 6 or 9), as TensorFlow does
 * (important: torchvision's stock blocks count the zero padding).
 */
export function avgPool3x3s1p1(x: Array): Array {
  const [, , h, w] = x.shape as [number, number, number, number];
  const zeroPad = np.pad(x, [[0, 0], [0, 0], [1, 1], [1, 1]]); // (N, C, H+2, W+2)
  const sums = window3(window3(zeroPad, 2, "sum"), 3, "sum"); // (N, C, H, W)
  const ch = windowCounts(h);
  const cw = windowCounts(w);
  const counts = np.array(Float32Array.from({ length: h * w }, (_, i) => ch[Math.floor(i / w)]! * cw[i % w]!)).reshape([1, 1, h, w]);
  return sums.div(counts);
}

// ---------------------------------------------------------------------------
// The Mixed blocks (torchvision's InceptionA–E with pytorch-fid's FID variants)

type Convs<K extends string> = Record<K, BasicConv2dParams>;

const P0: Pad = [0, 0];
const P1: Pad = [1, 1];
const P2: Pad = [2, 2];
const P3: Pad = [3, 3];

/** FIDInceptionA (Mixed_5b/5c/5d), 35×35: concat [1x1, 5x5, 3x3dbl, pool] (5b: 64+64+96+32 = 256 channels). */
export function inceptionA(p: Convs<"branch1x1" | "branch5x5_1" | "branch5x5_2" | "branch3x3dbl_1" | "branch3x3dbl_2" | "branch3x3dbl_3" | "branch_pool">, x: Array): Array {
  const branch1x1 = basicConv2d(p.branch1x1, x.ref); // (N, 64, 35, 35)
  let branch5x5 = basicConv2d(p.branch5x5_1, x.ref); // (N, 48, 35, 35)
  branch5x5 = basicConv2d(p.branch5x5_2, branch5x5, 1, [P2, P2]); // (N, 64, 35, 35)
  let branch3x3dbl = basicConv2d(p.branch3x3dbl_1, x.ref); // (N, 64, 35, 35)
  branch3x3dbl = basicConv2d(p.branch3x3dbl_2, branch3x3dbl, 1, [P1, P1]); // (N, 96, 35, 35)
  branch3x3dbl = basicConv2d(p.branch3x3dbl_3, branch3x3dbl, 1, [P1, P1]); // (N, 96, 35, 35)
  const branchPool = basicConv2d(p.branch_pool, avgPool3x3s1p1(x)); // (N, 32|64, 35, 35); count_include_pad=False
  return np.concatenate([branch1x1, branch5x5, branch3x3dbl, branchPool], 1);
}

/** InceptionB (Mixed_6a), 35×35 → 17×17: concat [3x3, 3x3dbl, pool] (288 → 384+96+288 = 768 channels). */
export function inceptionB(p: Convs<"branch3x3" | "branch3x3dbl_1" | "branch3x3dbl_2" | "branch3x3dbl_3">, x: Array): Array {
  const branch3x3 = basicConv2d(p.branch3x3, x.ref, 2); // (N, 384, 17, 17)
  let branch3x3dbl = basicConv2d(p.branch3x3dbl_1, x.ref); // (N, 64, 35, 35)
  branch3x3dbl = basicConv2d(p.branch3x3dbl_2, branch3x3dbl, 1, [P1, P1]); // (N, 96, 35, 35)
  branch3x3dbl = basicConv2d(p.branch3x3dbl_3, branch3x3dbl, 2); // (N, 96, 17, 17)
  const branchPool = maxPool3x3s2(x); // (N, 288, 17, 17)
  return np.concatenate([branch3x3, branch3x3dbl, branchPool], 1);
}

/**
 * FIDInceptionC (Mixed_6b–6e), 17×17: concat [1x1, 7x7, 7x7dbl, pool] (4 × 192 = 768 channels).
 * `onBranch1x1` receives branch1x1 (a reference it must consume): sFID's tap in Mixed_6d.
 */
export function inceptionC(
  p: Convs<"branch1x1" | "branch7x7_1" | "branch7x7_2" | "branch7x7_3" | "branch7x7dbl_1" | "branch7x7dbl_2" | "branch7x7dbl_3" | "branch7x7dbl_4" | "branch7x7dbl_5" | "branch_pool">,
  x: Array,
  onBranch1x1?: (branch1x1: Array) => void,
): Array {
  const branch1x1 = basicConv2d(p.branch1x1, x.ref); // (N, 192, 17, 17)
  onBranch1x1?.(branch1x1.ref);
  let branch7x7 = basicConv2d(p.branch7x7_1, x.ref); // (N, c7, 17, 17)
  branch7x7 = basicConv2d(p.branch7x7_2, branch7x7, 1, [P0, P3]); // 1×7: (N, c7, 17, 17)
  branch7x7 = basicConv2d(p.branch7x7_3, branch7x7, 1, [P3, P0]); // 7×1: (N, 192, 17, 17)
  let branch7x7dbl = basicConv2d(p.branch7x7dbl_1, x.ref); // (N, c7, 17, 17)
  branch7x7dbl = basicConv2d(p.branch7x7dbl_2, branch7x7dbl, 1, [P3, P0]); // 7×1
  branch7x7dbl = basicConv2d(p.branch7x7dbl_3, branch7x7dbl, 1, [P0, P3]); // 1×7
  branch7x7dbl = basicConv2d(p.branch7x7dbl_4, branch7x7dbl, 1, [P3, P0]); // 7×1
  branch7x7dbl = basicConv2d(p.branch7x7dbl_5, branch7x7dbl, 1, [P0, P3]); // 1×7: (N, 192, 17, 17)
  const branchPool = basicConv2d(p.branch_pool, avgPool3x3s1p1(x)); // (N, 192, 17, 17); count_include_pad=False
  return np.concatenate([branch1x1, branch7x7, branch7x7dbl, branchPool], 1);
}

/** InceptionD (Mixed_7a), 17×17 → 8×8: concat [3x3, 7x7x3, pool] (768 → 320+192+768 = 1280 channels). */
export function inceptionD(p: Convs<"branch3x3_1" | "branch3x3_2" | "branch7x7x3_1" | "branch7x7x3_2" | "branch7x7x3_3" | "branch7x7x3_4">, x: Array): Array {
  let branch3x3 = basicConv2d(p.branch3x3_1, x.ref); // (N, 192, 17, 17)
  branch3x3 = basicConv2d(p.branch3x3_2, branch3x3, 2); // (N, 320, 8, 8)
  let branch7x7x3 = basicConv2d(p.branch7x7x3_1, x.ref); // (N, 192, 17, 17)
  branch7x7x3 = basicConv2d(p.branch7x7x3_2, branch7x7x3, 1, [P0, P3]); // 1×7
  branch7x7x3 = basicConv2d(p.branch7x7x3_3, branch7x7x3, 1, [P3, P0]); // 7×1
  branch7x7x3 = basicConv2d(p.branch7x7x3_4, branch7x7x3, 2); // (N, 192, 8, 8)
  const branchPool = maxPool3x3s2(x); // (N, 768, 8, 8)
  return np.concatenate([branch3x3, branch7x7x3, branchPool], 1);
}

/**
 * FIDInceptionE_1 (Mixed_7b, `pool: "avg"`) and FIDInceptionE_2 (Mixed_7c,
 * `pool: "max"`), 8×8: concat [1x1, 3x3_2a, 3x3_2b, 3x3dbl_3a, 3x3dbl_3b, pool]
 * (320 + 2·384 + 2·384 + 192 = 2048 channels).
 */
export function inceptionE(
  p: Convs<"branch1x1" | "branch3x3_1" | "branch3x3_2a" | "branch3x3_2b" | "branch3x3dbl_1" | "branch3x3dbl_2" | "branch3x3dbl_3a" | "branch3x3dbl_3b" | "branch_pool">,
  x: Array,
  pool: "avg" | "max",
): Array {
  const branch1x1 = basicConv2d(p.branch1x1, x.ref); // (N, 320, 8, 8)
  const branch3x3 = basicConv2d(p.branch3x3_1, x.ref); // (N, 384, 8, 8)
  const branch3x3a = basicConv2d(p.branch3x3_2a, branch3x3.ref, 1, [P0, P1]); // 1×3: (N, 384, 8, 8)
  const branch3x3b = basicConv2d(p.branch3x3_2b, branch3x3, 1, [P1, P0]); // 3×1: (N, 384, 8, 8)
  let branch3x3dbl = basicConv2d(p.branch3x3dbl_1, x.ref); // (N, 448, 8, 8)
  branch3x3dbl = basicConv2d(p.branch3x3dbl_2, branch3x3dbl, 1, [P1, P1]); // (N, 384, 8, 8)
  const branch3x3dblA = basicConv2d(p.branch3x3dbl_3a, branch3x3dbl.ref, 1, [P0, P1]); // 1×3
  const branch3x3dblB = basicConv2d(p.branch3x3dbl_3b, branch3x3dbl, 1, [P1, P0]); // 3×1
  // important: the TF FID graph's last block max-pools (FIDInceptionE_2); Mixed_7b averages without the padding
  const pooled = pool === "avg" ? avgPool3x3s1p1(x) : maxPool3x3s1p1(x);
  const branchPool = basicConv2d(p.branch_pool, pooled); // (N, 192, 8, 8)
  return np.concatenate([branch1x1, branch3x3a, branch3x3b, branch3x3dblA, branch3x3dblB, branchPool], 1);
}
