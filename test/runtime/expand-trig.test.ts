/**
 * expandTrig (src/runtime/expand-trig.ts): Sin/Cos nodes become
 * Floor/Mul/Add computing sin and cos to float32 accuracy over the DiT's
 * range of arguments, checked on a small graph run by onnxruntime-node
 * against Math.sin / Math.cos in float64.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import onnxProto from "onnx-proto";
import { expandTrig } from "../../src/runtime/expand-trig.js";
import { Graph } from "../../src/runtime/onnx-graph.js";
import { Session } from "../../src/runtime/session.js";
import { Tensor } from "../../src/runtime/tensor.js";

const { onnx } = onnxProto;
const N = 4001;

/** x (N) → [sin x, cos x]. */
function model(): Uint8Array {
  const g = new Graph();
  g.inputs.push({ name: "x", dtype: "float32", shape: [N] });
  const [s] = g.addNode("Sin", ["x"]);
  const [c] = g.addNode("Cos", ["x"]);
  g.outputs.push({ name: s!, dtype: "float32", shape: [N] }, { name: c!, dtype: "float32", shape: [N] });
  return g.encode();
}

const ops = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType ?? "");

describe("expandTrig", () => {
  it("leaves no Sin or Cos, only Floor/Mul/Add", () => {
    const after = ops(expandTrig(model()));
    assert.ok(after.length > 2);
    assert.ok(after.every((o) => ["Floor", "Mul", "Add"].includes(o)), after.join(" "));
  });

  it("computes sin and cos within 1e-6 for |x| ≤ 1000 (timestep × frequency), exactly 0 and 1 at 0", async () => {
    // -1000..1000 with irregular offsets, plus the special points 0, ±π/2, ±π
    const xs = Float32Array.from({ length: N }, (_, i) => (i < 5 ? [0, Math.PI / 2, -Math.PI / 2, Math.PI, -Math.PI][i]! : -1000 + (2000 * i) / N + 0.37 * Math.sin(7 * i)));
    const [s, c] = await (await Session.create(expandTrig(model()))).run([new Tensor(xs, [N])]);
    let worst = 0;
    for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(s!.data[i]! - Math.sin(xs[i]!)), Math.abs(c!.data[i]! - Math.cos(xs[i]!)));
    assert.ok(worst < 1e-6, `max abs error ${worst}`);
    assert.equal(s!.data[0], 0);
    assert.equal(c!.data[0], 1);
  });

  it("returns a model without Sin/Cos as it is", () => {
    const g = new Graph();
    g.inputs.push({ name: "x", dtype: "float32", shape: [N] });
    const [y] = g.addNode("Tanh", ["x"]);
    g.outputs.push({ name: y!, dtype: "float32", shape: [N] });
    const bytes = g.encode();
    assert.equal(expandTrig(bytes), bytes);
  });
});
