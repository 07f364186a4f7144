/**
 * Composite checks of the lowering: a DiT-sized attention block (adaLN
 * modulation, attention, gated residuals, tanh-GELU MLP) forward and
 * valueAndGrad over its parameter pytree against jax-js eager, and a small
 * linear → layer norm → softmax → linear stack against float64 plain JS.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { nn, numpy as np, valueAndGrad } from "@jax-js/jax";
import { spec, type Tensor } from "../../src/runtime/tensor.js";
import { setupJax } from "../helpers.js";
import { assertClose, lowerGraph, ops, randn, rngFor, runCompiled, runCompiledTree, runEager, type J } from "./harness.js";
import { f64, layerNorm64, matmul64, reduce64, softmax64, transpose2d64, type Ref } from "./ref64.js";

before(async () => {
  await setupJax();
});

/** LayerNorm without affine over the last axis (ε = 1e-6), as the DiT model writes it. */
function layerNorm(x: J): J {
  const mu = np.mean(x.ref, -1, { keepdims: true });
  const xc = x.sub(mu);
  const v = np.mean(xc.ref.mul(xc.ref), -1, { keepdims: true });
  return xc.mul(np.reciprocal(np.sqrt(v.add(1e-6))));
}

function linear(x: J, w: J, b: J): J {
  return np.matmul(x, w.transpose()).add(b);
}

// ---------------------------------------------------------------------------
const N = 2;
const T = 16;
const D = 64;
const H = 4;
const DH = D / H;

type Params = Record<"adaW" | "adaB" | "qkvW" | "qkvB" | "projW" | "projB" | "fc1W" | "fc1B" | "fc2W" | "fc2B", J>;

const PARAM_SHAPES: Record<keyof Params, number[]> = {
  adaW: [6 * D, D],
  adaB: [6 * D],
  qkvW: [3 * D, D],
  qkvB: [3 * D],
  projW: [D, D],
  projB: [D],
  fc1W: [4 * D, D],
  fc1B: [4 * D],
  fc2W: [D, 4 * D],
  fc2B: [D],
};

/** A DiT block: x [N,T,D], conditioning c [N,D]. */
function ditBlock(p: Params, x: J, c: J): J {
  const modulate = (h: J, shift: J, scale: J) => h.mul(scale.add(1)).add(shift);
  const ada = linear(nn.silu(c), p.adaW, p.adaB).reshape([N, 1, 6 * D]);
  const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = np.split(ada, 6, 2) as J[];

  const h = modulate(layerNorm(x.ref), shiftMsa!, scaleMsa!);
  const qkv = linear(h, p.qkvW, p.qkvB).reshape([N, T, 3, H, DH]).transpose([2, 0, 3, 1, 4]);
  const [q, k, v] = (np.split(qkv, 3, 0) as J[]).map((a) => a.reshape([N, H, T, DH]));
  const att = nn.softmax(np.matmul(q!.mul(1 / Math.sqrt(DH)), k!.transpose([0, 1, 3, 2])), -1);
  const o = np.matmul(att, v!).transpose([0, 2, 1, 3]).reshape([N, T, D]);
  const x1 = x.add(gateMsa!.mul(linear(o, p.projW, p.projB)));

  const h2 = modulate(layerNorm(x1.ref), shiftMlp!, scaleMlp!);
  const m = linear(nn.gelu(linear(h2, p.fc1W, p.fc1B), { approximate: true }), p.fc2W, p.fc2B);
  return x1.add(gateMlp!.mul(m));
}

function randomParams(name: string): Record<keyof Params, Tensor> {
  const rng = rngFor(name);
  const out = {} as Record<keyof Params, Tensor>;
  for (const [k, shape] of Object.entries(PARAM_SHAPES) as [keyof Params, number[]][]) {
    // weights ~ N(0, 1/fan_in); biases and the adaLN layer large enough that the gates matter
    out[k] = randn(rng, shape, shape.length === 2 ? 1 / Math.sqrt(shape[1]!) : 0.5);
  }
  return out;
}

describe("DiT attention block (N=2, T=16, D=64, 4 heads)", () => {
  it("forward: value vs jax-js eager, fused ops in the graph", async () => {
    const rng = rngFor("dit forward");
    const p = randomParams("dit forward params");
    const x = randn(rng, [N, T, D]);
    const c = randn(rng, [N, D]);
    const want = runEager(ditBlock, p, x, c);
    const got = await runCompiled(ditBlock, p, x, c);
    assertClose(got, want, 1e-4, "dit forward");

    const pSpecs = Object.fromEntries(Object.entries(PARAM_SHAPES).map(([k, s]) => [k, spec(s)]));
    const g = await lowerGraph(ditBlock, pSpecs, spec([N, T, D]), spec([N, D]));
    const o = ops(g);
    assert.equal(o.filter((n) => n === "LayerNormalization").length, 2, o.join(" "));
    assert.equal(o.filter((n) => n === "Softmax").length, 1, o.join(" "));
    assert.equal(o.filter((n) => n === "Gelu").length, 1, o.join(" "));
    assert.ok(o.includes("Sigmoid"), `silu not fused: ${o.join(" ")}`);
    assert.ok(!o.includes("Exp") && !o.includes("Erf") && !o.includes("Sqrt"), `unfused decompositions left: ${o.join(" ")}`);
  });

  it("valueAndGrad over the parameter pytree: value and every gradient vs jax-js eager", async () => {
    const rng = rngFor("dit grad");
    const p = randomParams("dit grad params");
    const x = randn(rng, [N, T, D]);
    const c = randn(rng, [N, D]);
    const w = randn(rng, [N, T, D]);
    const loss = (pp: Params, xx: J, cc: J, ww: J) => np.sum(ditBlock(pp, xx, cc).mul(ww));
    const vg = valueAndGrad(loss);
    const want = runEager(vg, p, x, c, w);
    const got = await runCompiled(vg, p, x, c, w);
    assert.equal(got.length, 1 + Object.keys(PARAM_SHAPES).length);
    assertClose(got, want, 1e-4, "dit valueAndGrad");
    // every parameter gets a non-trivial gradient (the check is not vacuous)
    for (const t of got.slice(1)) assert.ok(t.data.some((v) => Math.abs(v) > 1e-3), `zero gradient of shape [${t.shape}]`);
  });
});

// ---------------------------------------------------------------------------
describe("linear → layer norm → softmax → linear vs float64", () => {
  /** y = softmax(2·LN(x Wᵀ + b)) Vᵀ */
  const stack = (p: { W: J; b: J; V: J }, x: J) => np.matmul(nn.softmax(layerNorm(linear(x, p.W, p.b)).mul(2), -1), p.V.transpose());

  /** The same in float64, with reverse-mode gradients for the cotangent `w`. */
  function stack64(p: { W: Ref; b: Ref; V: Ref }, x: Ref, w: Ref) {
    const lin = matmul64(x, transpose2d64(p.W));
    const h: Ref = { data: lin.value.data.map((v, i) => v + p.b.data[i % p.b.data.length]!), shape: lin.value.shape };
    const n = layerNorm64(h, 1e-6);
    const z: Ref = { data: n.value.data.map((v) => 2 * v), shape: n.value.shape };
    const s = softmax64(z, 1);
    const y = matmul64(s.value, transpose2d64(p.V), w);
    const ds = y.grads[0]!;
    const dz = softmax64(z, 1, ds).grads[0]!;
    const dn: Ref = { data: dz.data.map((v) => 2 * v), shape: dz.shape };
    const dh = layerNorm64(h, 1e-6, dn).grads[0]!;
    const dlin = matmul64(x, transpose2d64(p.W), dh);
    return {
      value: y.value,
      grads: {
        W: transpose2d64(dlin.grads[1]!),
        b: reduce64(dh, [0], "sum").value,
        V: transpose2d64(y.grads[1]!),
        x: dlin.grads[0]!,
      },
    };
  }

  it("forward and gradients (W, b, V, x): vs float64 (relErr ≤ 1e-5), fused ops in the graph", async () => {
    const rng = rngFor("linear layernorm softmax");
    const p = { W: randn(rng, [8, 6], 0.5), b: randn(rng, [8], 0.5), V: randn(rng, [5, 8]) };
    const x = randn(rng, [4, 6]);
    const w = randn(rng, [4, 5]);
    const want = stack64({ W: f64(p.W), b: f64(p.b), V: f64(p.V) }, f64(x), f64(w));

    const [value] = await runCompiled(stack, p, x);
    assertClose([value!], [want.value], 1e-5, "composite forward");

    const g = await lowerGraph(stack, { W: spec([8, 6]), b: spec([8]), V: spec([5, 8]) }, spec([4, 6]));
    for (const op of ["LayerNormalization", "Softmax", "Gemm"]) assert.ok(ops(g).includes(op), `${op} missing: ${ops(g).join(" ")}`);

    const loss = (pp: { W: J; b: J; V: J; x: J }, ww: J) => np.sum(stack({ W: pp.W, b: pp.b, V: pp.V }, pp.x).mul(ww));
    const [lossValue, grads] = (await runCompiledTree(valueAndGrad(loss), { ...p, x }, w)) as [Tensor, Record<"W" | "b" | "V" | "x", Tensor>];
    const wantLoss = { data: [want.value.data.reduce((a, v, i) => a + v * w.data[i]!, 0)], shape: [] };
    assertClose([lossValue], [wantLoss], 1e-5, "composite loss");
    for (const k of ["W", "b", "V", "x"] as const) assertClose([grads[k]], [want.grads[k]], 1e-5, `composite grad ${k}`);
  });
});
