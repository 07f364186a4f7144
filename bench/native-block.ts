/**
 * A DiT adaLN-Zero block built directly from native ONNX ops (Gemm/MatMul,
 * LayerNormalization, Softmax, Gelu), the way a PyTorch export looks: the
 * reference the compiled block's forward time is measured against.
 */
import { Graph } from "../src/runtime/onnx-graph.js";

export function nativeBlockGraph(N: number, T: number, D: number, H: number): Graph {
  const g = new Graph();
  const input = (name: string, shape: number[]) => {
    g.inputs.push({ name, dtype: "float32", shape });
    return name;
  };
  const x = input("x", [N, T, D]);
  const c = input("c", [N, D]);
  // weights pre-transposed to (in, out), as an exporter's constant folding leaves them
  const w = (name: string, i: number, o: number) => [input(`${name}_w`, [i, o]), input(`${name}_b`, [o])] as const;
  const [adaW, adaB] = w("ada", D, 6 * D);
  const [qkvW, qkvB] = w("qkv", D, 3 * D);
  const [projW, projB] = w("proj", D, D);
  const [fc1W, fc1B] = w("fc1", D, 4 * D);
  const [fc2W, fc2B] = w("fc2", 4 * D, D);
  const lin = (v: string, W: string, b: string) => g.op("Add", [g.op("MatMul", [v, W]), b]);
  const ones = g.constant("float32", [D], new Float32Array(D).fill(1));
  const zeros = g.constant("float32", [D], new Float32Array(D));
  const ln = (v: string) => g.op("LayerNormalization", [v, ones, zeros], { axis: -1, epsilon: { float: 1e-6 } });
  const one = g.constant("float32", [], [1]);

  const silu = g.op("Mul", [c, g.op("Sigmoid", [c])]);
  const mod = g.op("Unsqueeze", [g.op("Gemm", [silu, adaW, adaB]), g.int64s([1])]); // (N, 1, 6D)
  const [shiftA, scaleA, gateA, shiftM, scaleM, gateM] = g.addNode("Split", [mod, g.int64s(Array(6).fill(D))], { axis: 2 }, 6);
  const modulate = (v: string, shift: string, scale: string) => g.op("Add", [g.op("Mul", [v, g.op("Add", [scale!, one])]), shift!]);

  const h = modulate(ln(x), shiftA!, scaleA!);
  const qkv = g.op("Transpose", [g.op("Reshape", [lin(h, qkvW, qkvB), g.int64s([N, T, 3, H, D / H])])], { perm: [2, 0, 3, 1, 4] });
  const [q, k, v] = g.addNode("Split", [qkv, g.int64s([1, 1, 1])], { axis: 0 }, 3).map((s) => g.op("Squeeze", [s, g.int64s([0])]));
  const qs = g.op("Mul", [q!, g.constant("float32", [], [(D / H) ** -0.5])]);
  const att = g.op("Softmax", [g.op("MatMul", [qs, g.op("Transpose", [k!], { perm: [0, 1, 3, 2] })])], { axis: -1 });
  const o = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [att, v!])], { perm: [0, 2, 1, 3] }), g.int64s([N, T, D])]);
  const x1 = g.op("Add", [x, g.op("Mul", [gateA!, lin(o, projW, projB)])]);

  const h2 = modulate(ln(x1), shiftM!, scaleM!);
  const m = lin(g.op("Gelu", [lin(h2, fc1W, fc1B)], { approximate: "tanh" }), fc2W, fc2B);
  const out = g.op("Add", [x1, g.op("Mul", [gateM!, m])]);
  g.nodes.push({ op: "Identity", inputs: [out], outputs: ["out"], attrs: {} });
  g.outputs.push({ name: "out", dtype: "float32", shape: [N, T, D] });
  return g;
}
