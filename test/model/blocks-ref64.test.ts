/**
 * The four block designs of the paper's conditioning ablation (Fig. 3) against
 * float64 references written here as plain loops from the paper's
 * definitions, independent of jax-js and of src/model:
 *
 *   LN(x)            LayerNorm over D without affine parameters, eps 1e-6
 *   MSA(x)           multi-head self-attention: fused qkv Linear(D, 3D) (rows
 *                    [q | k | v], heads of D/H contiguous rows), softmax(q·k/√dh) v,
 *                    output Linear(D, D)
 *   MLP(x)           Linear(D, 4D) → tanh-GELU → Linear(4D, D)
 *   mod(x, β, γ)     x·(1 + γ) + β, with (β, γ, α) regressed from c by SiLU → Linear
 *
 *   adaLN-Zero       x += α₁·MSA(mod(LN x, β₁, γ₁));  x += α₂·MLP(mod(LN x, β₂, γ₂))
 *                    (chunks [β₁, γ₁, α₁, β₂, γ₂, α₂], official `DiTBlock`)
 *   adaLN            the same without the gates α (chunks [β₁, γ₁, β₂, γ₂])
 *   cross-attention  x += MSA(LN x);  x += MHA(q = x, k = v = [t, y] tokens);  x += MLP(LN x)
 *                    (separate q, k, v, out Linear(D, D); no LayerNorm before
 *                    the cross-attention, DIT-FACTS.md)
 *   in-context       x += MSA(LN x);  x += MLP(LN x), on the image tokens
 *                    with the [t, y] tokens appended
 *
 * One small instance of each (N 2, T 6, D 8, 2 heads), with every weight and
 * bias random and non-zero so the gates and every sub-layer are active (the
 * test also checks that dropping any one sub-layer moves the reference far
 * outside the bound). The block outputs, compiled (ONNX Runtime) and jax-js
 * eager, must be within ‖got − ref‖₂/‖ref‖₂ ≤ 1e-5 of the reference.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { type Array as JaxArray } from "@jax-js/jax";
import { Tensor, type BlockType } from "../../src/index.js";
import { adaLNBlock, adaLNZeroBlock, blockParamShapes, crossAttentionBlock, inContextBlock, type BlockParams } from "../../src/model/blocks.js";
import { relErr, Rng, setupJax } from "../helpers.js";
import { runCompiled, runEager } from "../runtime/harness.js";

const N = 2;
const T = 6;
const D = 8;
const HEADS = 2;
const HIDDEN = 4 * D;
const BOUND = 1e-5;

// ---------------------------------------------------------------- float64 reference

/** A row-major (rows, cols) float64 matrix. */
type Mat = { rows: number; cols: number; v: Float64Array };
type Lin = { w: Mat; b: Float64Array }; // w (out, in), PyTorch layout

const mat = (rows: number, cols: number, v = new Float64Array(rows * cols)): Mat => ({ rows, cols, v });
const at = (m: Mat, i: number, j: number) => m.v[i * m.cols + j]!;

function linear64(p: Lin, x: Mat): Mat {
  const out = mat(x.rows, p.w.rows);
  for (let i = 0; i < x.rows; i++) {
    for (let o = 0; o < p.w.rows; o++) {
      let s = p.b[o]!;
      for (let k = 0; k < x.cols; k++) s += at(x, i, k) * at(p.w, o, k);
      out.v[i * out.cols + o] = s;
    }
  }
  return out;
}

function layerNorm64(x: Mat): Mat {
  const out = mat(x.rows, x.cols);
  for (let i = 0; i < x.rows; i++) {
    let mean = 0;
    for (let j = 0; j < x.cols; j++) mean += at(x, i, j);
    mean /= x.cols;
    let variance = 0;
    for (let j = 0; j < x.cols; j++) variance += (at(x, i, j) - mean) ** 2;
    variance /= x.cols;
    for (let j = 0; j < x.cols; j++) out.v[i * x.cols + j] = (at(x, i, j) - mean) / Math.sqrt(variance + 1e-6);
  }
  return out;
}

const map64 = (x: Mat, f: (v: number) => number): Mat => mat(x.rows, x.cols, x.v.map(f));
const add64 = (a: Mat, b: Mat): Mat => mat(a.rows, a.cols, a.v.map((v, i) => v + b.v[i]!));
const gelu64 = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
const silu64 = (v: number) => v / (1 + Math.exp(-v));
/** Columns [from, from + n) of x. */
const cols64 = (x: Mat, from: number, n: number): Mat => {
  const out = mat(x.rows, n);
  for (let i = 0; i < x.rows; i++) for (let j = 0; j < n; j++) out.v[i * n + j] = at(x, i, from + j);
  return out;
};
/** Each row of x times (1 + scale) plus shift, per channel. */
const modulate64 = (x: Mat, shift: Float64Array, scale: Float64Array): Mat =>
  mat(x.rows, x.cols, x.v.map((v, i) => v * (1 + scale[i % x.cols]!) + shift[i % x.cols]!));
/** Each row of x times the per-channel gate. */
const gate64 = (x: Mat, g: Float64Array): Mat => mat(x.rows, x.cols, x.v.map((v, i) => v * g[i % x.cols]!));

/** Multi-head attention of projected q (Tq, D) over k, v (Tk, D): heads are contiguous D/H columns. */
function attend64(q: Mat, k: Mat, v: Mat): Mat {
  const dh = D / HEADS;
  const out = mat(q.rows, D);
  for (let h = 0; h < HEADS; h++) {
    for (let i = 0; i < q.rows; i++) {
      const logits = new Float64Array(k.rows);
      for (let j = 0; j < k.rows; j++) {
        let s = 0;
        for (let e = 0; e < dh; e++) s += at(q, i, h * dh + e) * at(k, j, h * dh + e);
        logits[j] = s / Math.sqrt(dh);
      }
      const m = Math.max(...logits);
      const p = logits.map((l) => Math.exp(l - m));
      const z = p.reduce((a, b) => a + b, 0);
      for (let e = 0; e < dh; e++) {
        let s = 0;
        for (let j = 0; j < k.rows; j++) s += (p[j]! / z) * at(v, j, h * dh + e);
        out.v[i * D + h * dh + e] = s;
      }
    }
  }
  return out;
}

interface Ref64Params {
  qkv: Lin;
  proj: Lin;
  fc1: Lin;
  fc2: Lin;
  ada?: Lin;
  cross?: { q: Lin; k: Lin; v: Lin; proj: Lin };
}

function selfAttention64(p: Ref64Params, x: Mat): Mat {
  const qkv = linear64(p.qkv, x); // (T, 3D): [q | k | v]
  return linear64(p.proj, attend64(cols64(qkv, 0, D), cols64(qkv, D, D), cols64(qkv, 2 * D, D)));
}
const mlp64 = (p: Ref64Params, x: Mat): Mat => linear64(p.fc2, map64(linear64(p.fc1, x), gelu64));

/** A sub-layer the reference can leave out (to show that each one matters). */
type Drop = "none" | "attn" | "cross" | "mlp" | "gates" | "modulation";

/** One sample: x (T, D), c (D) for adaLN, cond (2, D) for cross-attention. */
function block64(block: BlockType, p: Ref64Params, x: Mat, c: Mat, drop: Drop = "none"): Mat {
  const on = (part: Drop) => drop !== part;
  if (block === "adaLN-Zero" || block === "adaLN") {
    const k = block === "adaLN-Zero" ? 6 : 4;
    const mod = linear64(p.ada!, map64(c, silu64)).v; // (k·D)
    const ch = (i: number) => (on("modulation") ? mod.subarray(i * D, (i + 1) * D) : new Float64Array(D));
    const [shift1, scale1, shift2, scale2] = k === 6 ? [ch(0), ch(1), ch(3), ch(4)] : [ch(0), ch(1), ch(2), ch(3)];
    const ones = new Float64Array(D).fill(1);
    const [gate1, gate2] = k === 6 && on("gates") ? [mod.subarray(2 * D, 3 * D), mod.subarray(5 * D, 6 * D)] : [ones, ones];
    if (on("attn")) x = add64(x, gate64(selfAttention64(p, modulate64(layerNorm64(x), shift1, scale1)), gate1));
    if (on("mlp")) x = add64(x, gate64(mlp64(p, modulate64(layerNorm64(x), shift2, scale2)), gate2));
    return x;
  }
  if (on("attn")) x = add64(x, selfAttention64(p, layerNorm64(x)));
  if (block === "cross-attention" && on("cross")) {
    const cr = p.cross!;
    x = add64(x, linear64(cr.proj, attend64(linear64(cr.q, x), linear64(cr.k, c), linear64(cr.v, c))));
  }
  if (on("mlp")) x = add64(x, mlp64(p, layerNorm64(x)));
  return x;
}

// ---------------------------------------------------------------- instances

/** Random weights (PyTorch layouts), as host tensors for the block and float64 for the reference. */
function randomLinear(rng: Rng, fanIn: number, fanOut: number): { t: { weight: Tensor; bias: Tensor }; r: Lin } {
  const w = rng.normals(fanOut * fanIn, 0.4);
  const b = rng.normals(fanOut, 0.2);
  return {
    t: { weight: new Tensor(w, [fanOut, fanIn]), bias: new Tensor(b, [fanOut]) },
    r: { w: mat(fanOut, fanIn, Float64Array.from(w)), b: Float64Array.from(b) },
  };
}

interface Instance {
  params: Record<string, unknown>; // BlockParams with Tensor leaves
  ref: Ref64Params;
  x: Tensor; // (N, T, D), or (N, T + 2, D) for in-context
  cond: Tensor; // (N, D) for adaLN, (N, 2, D) for cross-attention; unused for in-context
}

function instance(block: BlockType, seed: number): Instance {
  const rng = new Rng(seed);
  const qkv = randomLinear(rng, D, 3 * D);
  const proj = randomLinear(rng, D, D);
  const fc1 = randomLinear(rng, D, HIDDEN);
  const fc2 = randomLinear(rng, HIDDEN, D);
  const params: Record<string, unknown> = { attn: { qkv: qkv.t, proj: proj.t }, mlp: { fc1: fc1.t, fc2: fc2.t } };
  const ref: Ref64Params = { qkv: qkv.r, proj: proj.r, fc1: fc1.r, fc2: fc2.r };
  if (block === "adaLN-Zero" || block === "adaLN") {
    const ada = randomLinear(rng, D, (block === "adaLN-Zero" ? 6 : 4) * D);
    params.adaLN_modulation = { "1": ada.t };
    ref.ada = ada.r;
  }
  if (block === "cross-attention") {
    const [q, k, v, p] = [0, 1, 2, 3].map(() => randomLinear(rng, D, D)) as [ReturnType<typeof randomLinear>, ReturnType<typeof randomLinear>, ReturnType<typeof randomLinear>, ReturnType<typeof randomLinear>];
    params.cross_attn = { q: q.t, k: k.t, v: v.t, proj: p.t };
    ref.cross = { q: q.r, k: k.r, v: v.r, proj: p.r };
  }
  const tokens = block === "in-context" ? T + 2 : T;
  const x = new Tensor(rng.normals(N * tokens * D), [N, tokens, D]);
  const cond = block === "cross-attention" ? new Tensor(rng.normals(N * 2 * D), [N, 2, D]) : new Tensor(rng.normals(N * D), [N, D]);
  return { params, ref, x, cond };
}

/** The float64 reference of the whole batch, flat (N, tokens, D). */
function reference(block: BlockType, inst: Instance, drop: Drop = "none"): Float64Array {
  const [, tokens] = inst.x.shape as [number, number, number];
  const out = new Float64Array(inst.x.data.length);
  const condRows = block === "cross-attention" ? 2 : 1;
  for (let n = 0; n < N; n++) {
    const x = mat(tokens, D, Float64Array.from((inst.x.data as Float32Array).subarray(n * tokens * D, (n + 1) * tokens * D)));
    const c = mat(condRows, D, Float64Array.from((inst.cond.data as Float32Array).subarray(n * condRows * D, (n + 1) * condRows * D)));
    out.set(block64(block, inst.ref, x, c, drop).v, n * tokens * D);
  }
  return out;
}

/** The block under test as a function of (params, x, cond) jax-js arrays. */
function blockFn(block: BlockType): (p: BlockParams, x: JaxArray, cond: JaxArray) => JaxArray {
  switch (block) {
    case "adaLN-Zero":
      return (p, x, c) => adaLNZeroBlock(p, x, c, HEADS);
    case "adaLN":
      return (p, x, c) => adaLNBlock(p, x, c, HEADS);
    case "cross-attention":
      return (p, x, c) => crossAttentionBlock(p, x, c, HEADS);
    case "in-context":
      return (p, x, c) => {
        c.dispose();
        return inContextBlock(p, x, HEADS);
      };
  }
}

/** The sub-layers of each design, each of which must change the output. */
const PARTS: Record<BlockType, Drop[]> = {
  "adaLN-Zero": ["attn", "mlp", "gates", "modulation"],
  adaLN: ["attn", "mlp", "modulation"],
  "cross-attention": ["attn", "cross", "mlp"],
  "in-context": ["attn", "mlp"],
};

describe("blocks vs float64 references written from the paper", () => {
  before(setupJax);
  const blocks: BlockType[] = ["adaLN-Zero", "adaLN", "cross-attention", "in-context"];
  blocks.forEach((block, i) => {
    it(`${block}: compiled and eager outputs within ${BOUND} (rel L2) of the float64 reference`, async () => {
      const inst = instance(block, 100 + i);
      // the parameter tree built here has the shapes the model declares
      const shapesOf = (tree: Record<string, unknown>): unknown =>
        Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, v instanceof Tensor ? [...v.shape] : shapesOf(v as Record<string, unknown>)]));
      assert.deepEqual(shapesOf(inst.params), blockParamShapes(block, D, 4));

      const want = reference(block, inst);
      for (const part of PARTS[block]) {
        const e = relErr(reference(block, inst, part), want);
        assert.ok(e > 1e-2, `${block}: leaving out ${part} changes the reference by only ${e.toExponential(2)}`);
      }
      const fn = blockFn(block);
      const [compiled] = await runCompiled(fn, inst.params as never, inst.x, inst.cond);
      const [eager] = runEager(fn, inst.params as never, inst.x, inst.cond);
      for (const [path, got] of [["compiled", compiled!], ["eager", eager!]] as const) {
        assert.deepEqual([...got.shape], [...inst.x.shape], `${block} ${path}: shape`);
        const err = relErr(got.data as Float32Array, want);
        assert.ok(err <= BOUND, `${block} ${path}: relative L2 error ${err.toExponential(2)} > ${BOUND}`);
      }
    });
  });
});
