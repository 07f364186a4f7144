/**
 * Tanh-approximated GELU spelled out in elementary ONNX ops, for graphs run on
 * onnxruntime-web's WebGPU backend.
 *
 * Our lowering emits opset-20 `Gelu(approximate="tanh")` (fusion.ts), which
 * onnxruntime-node's CPU kernel honours. onnxruntime-web's WebGPU (JSEP)
 * kernel for `Gelu` ignores the attribute and always computes the exact,
 * erf-based GELU (onnxruntime-web 1.30: `0.5·x·(1 + erf(x/√2))`), so a DiT
 * trained with tanh-GELU runs a slightly different function there: about
 * 2e-4 relative L2 on one forward, grown to ~1e-2 on the final latents of a
 * 5-step guided DPM-Solver++ sample (issue 13, bench/web-precision.ts).
 *
 * `expandTanhGelu` rewrites each such node as
 *   y = 0.5·x · (1 + tanh(√(2/π) · (x + 0.044715·x³)))
 * with Mul, Add and Tanh (every ONNX backend implements those as specified);
 * exact GELU nodes (no `approximate`, or "none") are left as they are.
 */
import { rewriteNodes, type NodeProto } from "./rewrite-nodes.js";

/** √(2/π) and the cubic coefficient of the tanh approximation (as PyTorch's GELU(approximate="tanh")). */
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const CUBIC = 0.044715;

function isTanhGelu(n: NodeProto): boolean {
  if (n.opType !== "Gelu" || (n.domain ?? "") !== "") return false;
  const a = (n.attribute ?? []).find((x) => x.name === "approximate");
  return !!a && new TextDecoder().decode(a.s ?? new Uint8Array()) === "tanh";
}

/**
 * The model (ONNX bytes) with every `Gelu(approximate="tanh")` of its main
 * graph replaced by the elementary ops above (same input and output names,
 * in place, so the node order stays topological). Returns the input bytes
 * unchanged when there is none.
 */
export function expandTanhGelu(model: Uint8Array): Uint8Array {
  return rewriteNodes(model, "gelu_tanh", isTanhGelu, (n, { op, k, v }) => {
    const x = n.input![0]!;
    op("Mul", [x, x], v("x2")); // x²
    op("Mul", [v("x2"), x], v("x3")); // x³
    op("Mul", [v("x3"), k(CUBIC)], v("cx3")); // 0.044715·x³
    op("Add", [x, v("cx3")], v("inner")); // x + 0.044715·x³
    op("Mul", [v("inner"), k(SQRT_2_OVER_PI)], v("arg")); // √(2/π)·(…)
    op("Tanh", [v("arg")], v("tanh"));
    op("Add", [v("tanh"), k(1)], v("onep")); // 1 + tanh(…)
    op("Mul", [x, k(0.5)], v("halfx")); // 0.5·x
    op("Mul", [v("halfx"), v("onep")], n.output![0]!);
  });
}
