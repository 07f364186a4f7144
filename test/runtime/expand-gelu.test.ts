/**
 * expandTanhGelu (src/runtime/expand-gelu.ts): Gelu(approximate="tanh") nodes
 * become Mul/Add/Tanh computing the same function; exact Gelu nodes stay.
 * Checked on a small graph run by onnxruntime-node against the formula in
 * float64 and against ONNX Runtime's own tanh-GELU kernel.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import onnxProto from "onnx-proto";
import { expandTanhGelu } from "../../src/runtime/expand-gelu.js";
import { Graph } from "../../src/runtime/onnx-graph.js";
import { Session } from "../../src/runtime/session.js";
import { Tensor } from "../../src/runtime/tensor.js";

const { onnx } = onnxProto;
const N = 101;

/** x (N) → [Gelu(x, tanh), Gelu(x) exact]. */
function model(): Uint8Array {
  const g = new Graph();
  g.inputs.push({ name: "x", dtype: "float32", shape: [N] });
  const [tanh] = g.addNode("Gelu", ["x"], { approximate: "tanh" });
  const [exact] = g.addNode("Gelu", ["x"]);
  g.outputs.push({ name: tanh!, dtype: "float32", shape: [N] }, { name: exact!, dtype: "float32", shape: [N] });
  return g.encode();
}

const ops = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType ?? "");
/** x from -8 to 8 (both tails and the middle). */
const xs = Float32Array.from({ length: N }, (_, i) => -8 + (16 * i) / (N - 1));

describe("expandTanhGelu", () => {
  it("replaces Gelu(approximate=tanh) with Mul/Add/Tanh and leaves exact Gelu", () => {
    const before = ops(model());
    const after = ops(expandTanhGelu(model()));
    assert.deepEqual(before, ["Gelu", "Gelu"]);
    assert.equal(after.filter((o) => o === "Gelu").length, 1, `ops after: ${after.join(" ")}`);
    assert.equal(after.filter((o) => o === "Tanh").length, 1);
    assert.ok(after.every((o) => ["Gelu", "Tanh", "Mul", "Add"].includes(o)), after.join(" "));
  });

  it("computes 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) as ONNX Runtime's tanh-GELU does; the exact output is untouched", async () => {
    const [nativeTanh, nativeExact] = await (await Session.create(model())).run([new Tensor(xs, [N])]);
    const [tanh, exact] = await (await Session.create(expandTanhGelu(model()))).run([new Tensor(xs, [N])]);
    let maxFormula = 0;
    let maxNative = 0;
    for (let i = 0; i < N; i++) {
      const x = xs[i]!;
      const want = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
      maxFormula = Math.max(maxFormula, Math.abs(tanh!.data[i]! - want));
      maxNative = Math.max(maxNative, Math.abs(tanh!.data[i]! - nativeTanh!.data[i]!));
    }
    assert.ok(maxFormula < 2e-6, `max |expanded − formula| = ${maxFormula}`);
    assert.ok(maxNative < 2e-6, `max |expanded − native tanh-GELU| = ${maxNative}`);
    assert.deepEqual(Array.from(exact!.data), Array.from(nativeExact!.data));
    // the exact GELU differs from the tanh one by far more than the tolerance here, so the check above tells them apart
    const gap = Math.max(...Array.from(xs, (_, i) => Math.abs(nativeExact!.data[i]! - nativeTanh!.data[i]!)));
    assert.ok(gap > 1e-4, `exact vs tanh GELU differ by only ${gap}`);
  });

  it("returns a model without tanh-GELU as it is", () => {
    const g = new Graph();
    g.inputs.push({ name: "x", dtype: "float32", shape: [N] });
    const [y] = g.addNode("Gelu", ["x"]);
    g.outputs.push({ name: y!, dtype: "float32", shape: [N] });
    const bytes = g.encode();
    assert.equal(expandTanhGelu(bytes), bytes);
  });
});
