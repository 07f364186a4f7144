/**
 * The `conv` lowering (jax-js `lax.convGeneralDilated` → ONNX Conv): values
 * against a float64 plain-JS convolution (relErr ≤ 1e-5), values and gradients
 * of Σ f·w against jax-js eager (relErr ≤ 1e-4, which exercises the
 * lhs-dilated and rhs-dilated convs of the transpose rule), on tiny shapes:
 * 1-D/2-D/3-D, stride 2 with asymmetric padding, 1×1, kernel and input
 * dilation, negative padding, feature groups and vmap.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { jit, lax, vmap } from "@jax-js/jax";
import { spec } from "../../src/runtime/tensor.js";
import { setupJax } from "../helpers.js";
import { assertClose, checkVsEager, lowerGraph, ops, randn, rngFor, runCompiled, type J } from "./harness.js";
import { size, type Ref } from "./ref64.js";

before(setupJax);

interface ConvCase {
  name: string;
  x: number[]; // [N, C, xs…]
  w: number[]; // [O, C/G, ks…]
  strides: number[];
  padding: [number, number][];
  lhsDilation?: number[];
  rhsDilation?: number[];
  groups?: number;
}

const CASES: ConvCase[] = [
  { name: "3x3 pad 1", x: [2, 3, 5, 6], w: [4, 3, 3, 3], strides: [1, 1], padding: [[1, 1], [1, 1]] },
  { name: "3x3 stride 2, asymmetric pad (0,1)", x: [2, 3, 6, 7], w: [4, 3, 3, 3], strides: [2, 2], padding: [[0, 1], [0, 1]] },
  { name: "1x1", x: [2, 5, 4, 3], w: [6, 5, 1, 1], strides: [1, 1], padding: [[0, 0], [0, 0]] },
  { name: "kernel dilation, mixed strides and pads", x: [1, 2, 7, 8], w: [3, 2, 2, 3], strides: [1, 2], padding: [[2, 1], [1, 0]], rhsDilation: [2, 1] },
  { name: "input dilation and negative padding", x: [2, 2, 4, 5], w: [3, 2, 3, 2], strides: [1, 1], padding: [[1, 2], [0, -1]], lhsDilation: [2, 3] },
  { name: "1-D stride 2", x: [2, 3, 9], w: [2, 3, 3], strides: [2], padding: [[1, 0]] },
  { name: "3-D", x: [1, 2, 3, 4, 3], w: [2, 2, 2, 2, 2], strides: [1, 1, 1], padding: [[0, 1], [1, 0], [0, 0]] },
  { name: "feature groups (vmap dims as Conv groups)", x: [2, 4, 5, 5], w: [6, 2, 3, 3], strides: [1, 1], padding: [[1, 1], [1, 1]], groups: 2 },
];

const convFn = (c: ConvCase) => (x: J, w: J) =>
  lax.convGeneralDilated(x, w, c.strides, c.padding, {
    lhsDilation: c.lhsDilation,
    rhsDilation: c.rhsDilation,
    featureGroupCount: c.groups ?? 1,
  });

/** General dilated grouped convolution in float64 (XLA semantics, no kernel flip). */
function conv64(x: Ref, w: Ref, c: ConvCase): Ref {
  const n = x.shape.length - 2;
  const [N, C] = x.shape as [number, number];
  const [O, Cg] = w.shape as [number, number];
  const G = c.groups ?? 1;
  const xs = x.shape.slice(2);
  const ks = w.shape.slice(2);
  const ld = c.lhsDilation ?? xs.map(() => 1);
  const rd = c.rhsDilation ?? xs.map(() => 1);
  const ys = xs.map((L, i) => {
    const inSize = (L - 1) * ld[i]! + 1 + c.padding[i]![0] + c.padding[i]![1];
    const k = (ks[i]! - 1) * rd[i]! + 1;
    return Math.ceil((inSize - k + 1) / c.strides[i]!);
  });
  const shape = [N, O, ...ys];
  const out = new Float64Array(size(shape));
  const unravel = (flat: number, dims: number[]) => {
    const idx = new Array<number>(dims.length);
    for (let i = dims.length - 1; i >= 0; i--) {
      idx[i] = flat % dims[i]!;
      flat = Math.floor(flat / dims[i]!);
    }
    return idx;
  };
  const ravel = (idx: number[], dims: number[]) => idx.reduce((a, v, i) => a * dims[i]! + v, 0);
  const nY = size(ys);
  const nK = size(ks);
  for (let b = 0; b < N; b++) {
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / (O / G));
      for (let yf = 0; yf < nY; yf++) {
        const y = unravel(yf, ys);
        let acc = 0;
        for (let cg = 0; cg < Cg; cg++) {
          const ci = g * Cg + cg;
          for (let kf = 0; kf < nK; kf++) {
            const k = unravel(kf, ks);
            const pos: number[] = [];
            let ok = true;
            for (let i = 0; i < n; i++) {
              const p = y[i]! * c.strides[i]! + k[i]! * rd[i]! - c.padding[i]![0];
              if (p < 0 || p % ld[i]! !== 0 || p / ld[i]! >= xs[i]!) {
                ok = false;
                break;
              }
              pos.push(p / ld[i]!);
            }
            if (!ok) continue;
            acc += x.data[ravel([b, ci, ...pos], [N, C, ...xs])]! * w.data[ravel([o, cg, ...k], [O, Cg, ...ks])]!;
          }
        }
        out[ravel([b, o, ...y], shape)] = acc;
      }
    }
  }
  return { data: out, shape };
}

describe("conv lowering", () => {
  for (const c of CASES) {
    it(`${c.name}: value vs float64, value and grads vs jax-js eager`, async () => {
      const rng = rngFor(`conv/${c.name}`);
      const x = randn(rng, c.x);
      const w = randn(rng, c.w, 0.5);
      const f = convFn(c);
      const want = conv64({ data: Float64Array.from(x.data), shape: c.x }, { data: Float64Array.from(w.data), shape: c.w }, c);
      assertClose(await runCompiled(f, x, w), [want], 1e-5, `${c.name} (vs float64)`);
      await checkVsEager(`${c.name} (value and grads)`, f, [x, w]);
    });
  }

  it("lowers to a single ONNX Conv (strided, asymmetric pads as Conv pads)", async () => {
    const g = await lowerGraph(convFn(CASES[1]!), spec([2, 3, 6, 7]), spec([4, 3, 3, 3]));
    assert.deepEqual(ops(g).filter((o) => o !== "Identity"), ["Conv"]);
    const node = g.nodes.find((nd) => nd.op === "Conv")!;
    assert.deepEqual(node.attrs.pads, [0, 0, 1, 1]);
    assert.deepEqual(node.attrs.strides, [2, 2]);
  });

  it("vmap over the batch with a shared kernel (vmap dims folded into the batch): value and grads vs jax-js eager", async () => {
    const rng = rngFor("conv/vmap shared");
    const x = randn(rng, [3, 2, 2, 5, 4]);
    const w = randn(rng, [3, 2, 3, 3], 0.5);
    const f = (xx: J, ww: J) => vmap((xi: J, wi: J) => lax.conv(xi, wi, [2, 1], [[1, 0], [0, 2]]), [0, null])(xx, ww);
    await checkVsEager("vmap shared kernel", f, [x, w]);
  });

  it("vmap over inputs and kernels (grouped Conv): value and grads vs jax-js eager", async () => {
    const rng = rngFor("conv/vmap both");
    const x = randn(rng, [3, 2, 2, 5, 4]);
    const w = randn(rng, [3, 3, 2, 3, 3], 0.5);
    await checkVsEager("vmap both", (xx: J, ww: J) => vmap((xi: J, wi: J) => lax.conv(xi, wi, [1, 1], [[1, 1], [1, 1]]))(xx, ww), [x, w]);
  });

  it("a convolution inside a jit: value vs jax-js eager", async () => {
    const rng = rngFor("conv/jit");
    const x = randn(rng, [1, 2, 4, 4]);
    const w = randn(rng, [2, 2, 3, 3]);
    await checkVsEager("jit conv", jit((xx: J, ww: J) => lax.conv(xx, ww, [1, 1], "SAME")), [x, w], { differentiable: false });
  });
});
