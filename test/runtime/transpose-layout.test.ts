/**
 * Transposes the lowering emits: canonicalised to the smallest equivalent
 * transpose (ONNX Runtime's N-D transpose with size-1 axes measured 5–6×
 * slower than its 2-D one), still exact and still composing; and weight
 * gradients that ONNX Runtime's optimiser cannot fold back into its slow
 * transposed-A GEMM. Regression tests for the fwd+bwd speed work.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { grad, numpy as np } from "@jax-js/jax";
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import { canonicalTranspose } from "../../src/runtime/onnx-graph.js";
import { spec, Tensor } from "../../src/runtime/tensor.js";
import { setupJax } from "../helpers.js";
import { assertClose, lowerGraph, randn, rngFor, runCompiled, type J } from "./harness.js";
import { f64, matmul64, transpose2d64 } from "./ref64.js";

const onnx = onnxProto.onnx;
const tmp = mkdtempSync(join(tmpdir(), "dit-transpose-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
before(setupJax);

/** Reference transpose of a row-major array. */
function transposeRef(x: Tensor, perm: number[]): Float32Array {
  const shape = x.shape;
  const out = perm.map((p) => shape[p]!);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const res = new Float32Array(x.data.length);
  const idx = new Array<number>(out.length).fill(0);
  for (let o = 0; o < res.length; o++) {
    let src = 0;
    for (let j = 0; j < out.length; j++) src += idx[j]! * strides[perm[j]!]!;
    res[o] = x.data[src] as number;
    for (let j = out.length - 1; j >= 0; j--) {
      if (++idx[j]! < out[j]!) break;
      idx[j] = 0;
    }
  }
  return res;
}

describe("transpose canonicalisation", () => {
  it("drops size-1 axes and merges axes that stay adjacent", () => {
    // the weight-gradient layout: (N, T, D, 1) → (D, 1, N, T) is the 2-D (N·T, D) → (D, N·T)
    assert.deepEqual(canonicalTranspose([8, 256, 1536, 1], [2, 3, 0, 1]), { inShape: [2048, 1536], perm: [1, 0] });
    // splitting heads moves two non-adjacent axes: nothing to merge
    assert.deepEqual(canonicalTranspose([8, 256, 6, 64], [0, 2, 1, 3]), { inShape: [8, 256, 6, 64], perm: [0, 2, 1, 3] });
    // a size-1 axis between two axes that stay in order does not keep them apart
    assert.deepEqual(canonicalTranspose([2, 1, 3, 4], [3, 1, 0, 2]), { inShape: [6, 4], perm: [1, 0] });
    assert.deepEqual(canonicalTranspose([2, 3, 1, 4, 5], [3, 4, 0, 2, 1]), { inShape: [6, 20], perm: [1, 0] });
    assert.deepEqual(canonicalTranspose([2, 3, 4], [2, 0, 1]), { inShape: [6, 4], perm: [1, 0] });
  });

  const cases: [number[], number[]][] = [
    [[4, 6, 5, 1], [2, 3, 0, 1]],
    [[2, 1, 3, 4], [3, 1, 0, 2]],
    [[2, 3, 1, 4, 5], [3, 4, 0, 2, 1]],
    [[3, 4, 5], [1, 2, 0]],
    [[2, 3, 4, 5], [0, 2, 1, 3]],
    [[1, 5, 1, 7], [3, 2, 1, 0]],
  ];
  for (const [shape, perm] of cases) {
    it(`transpose [${shape}] by [${perm}] is exact, alone and composed with a second transpose`, async () => {
      const x = randn(rngFor(`transpose ${shape} ${perm}`), shape);
      const [got] = await runCompiled((a: J) => a.transpose(perm), x);
      assert.deepEqual(got!.shape, perm.map((p) => shape[p]!));
      assert.deepEqual(got!.data, transposeRef(x, perm));
      // transpose back: composes to the identity (no node at all)
      const inv = perm.map((_, i) => perm.indexOf(i));
      const g = await lowerGraph((a: J) => a.transpose(perm).transpose(inv).mul(2), spec(shape));
      assert.ok(!g.nodes.some((n) => n.op === "Transpose"), `round trip left ${g.nodes.map((n) => n.op).join(" ")}`);
      const [back] = await runCompiled((a: J) => a.transpose(perm).mul(3).transpose(inv), x);
      assert.deepEqual(back!.data, (x.data as Float32Array).map((v) => Math.fround(v * 3)));
    });
  }

  it("the weight-gradient transpose is 2-D", async () => {
    const loss = (p: { W: J }, x: J, w: J) => np.sum(np.matmul(x, p.W.transpose()).mul(w));
    const g = await lowerGraph(grad(loss), { W: spec([24, 16]) }, spec([4, 8, 16]), spec([4, 8, 24]));
    const transposes = g.nodes.filter((n) => n.op === "Transpose");
    assert.ok(transposes.length > 0);
    for (const t of transposes) assert.ok((t.attrs.perm as number[]).length <= 3, `Transpose perm [${t.attrs.perm}]`);
  });
});

describe("weight gradients avoid ONNX Runtime's transposed-A GEMM", () => {
  it("after ONNX Runtime's own graph optimisation, no Gemm or MatMul takes A transposed", async () => {
    const loss = (p: { W: J; b: J }, x: J, w: J) => np.sum(np.matmul(x, p.W.transpose()).add(p.b).mul(w));
    const specs = [{ W: spec([48, 32]), b: spec([48]) }, spec([4, 16, 32]), spec([4, 16, 48])] as const;
    const g = await lowerGraph(grad(loss), ...specs);
    const path = join(tmp, "optimized.onnx");
    const s = await ort.InferenceSession.create(g.encode(), { graphOptimizationLevel: "all", optimizedModelFilePath: path, intraOpNumThreads: 1 } as never);
    await s.release();
    const model = onnx.ModelProto.decode(readFileSync(path));
    const transA = model.graph!.node!.filter((n) => ["Gemm", "MatMul", "FusedMatMul"].includes(n.opType!) && n.attribute!.some((a) => a.name === "transA" && Number(a.i) === 1));
    assert.deepEqual(
      transA.map((n) => n.name),
      [],
      "transposed-A products after ONNX Runtime's optimisation",
    );
    // and the gradient is right: dW = Σ_tokens wᵀ x (float64 reference)
    const rng = rngFor("weight gradient");
    const x = randn(rng, [4, 16, 32]);
    const w = randn(rng, [4, 16, 48]);
    const W = randn(rng, [48, 32]);
    const b = randn(rng, [48]);
    const [gW] = await runCompiled(grad(loss), { W, b }, x, w); // leaves in key order: W, b
    const tokens = (t: Tensor) => ({ ...f64(t), shape: [64, t.shape[2]!] });
    const dWT = matmul64(tokens(x), transpose2d64(f64(W)), tokens(w)).grads[1]!; // ∂/∂Wᵀ
    assertClose([gW!], [transpose2d64(dWT)], 1e-5, "dW");
  });
});
