/**
 * Sin and Cos spelled out in Floor, Mul and Add, for graphs run on
 * onnxruntime-web's WebGPU backend.
 *
 * WGSL's sin/cos only promise an absolute error of 2^-11 on [-π, π] (Vulkan's
 * precision rule, which SwiftShader's approximation uses up): on the DiT's
 * timestep features that is ~2e-5–9e-5 relative L2 on one forward, against
 * ~3e-7 at t = 0 where every argument is 0 (bench/web-precision.ts), grown to
 * ~2e-3 on the final latents of a 5-step guided DPM-Solver++ sample.
 *
 * `expandTrig` rewrites each float Sin/Cos node of the main graph as
 *   k = floor(x/(2π) + ½),  r = (x − k·C₁) − k·C₂ ∈ [−π, π]   (2π = C₁ + C₂, Cody–Waite)
 *   h = r/2,  s = sin h,  c = cos h                         (Taylor, |h| ≤ π/2: error < 6e-8)
 *   sin x = 2·s·c,  cos x = 1 − 2·s²
 * accurate to a few float32 ulps of 1 for |x| up to ~1e5 (the DiT's t·freq ≤ 1000).
 */
import { rewriteNodes, type NodeProto } from "./rewrite-nodes.js";

/** 2π split so that k·TWO_PI_HI is exact in float32 for |k| < 2^12 (the high part has 12 significant bits). */
const TWO_PI_HI = 6.28125;
const TWO_PI_LO = 2 * Math.PI - TWO_PI_HI;
/** Taylor coefficients of sin h / h and cos h in h² (to h^12 / h^12). */
const SIN = [1, -1 / 6, 1 / 120, -1 / 5040, 1 / 362880, -1 / 39916800, 1 / 6227020800];
const COS = [1, -1 / 2, 1 / 24, -1 / 720, 1 / 40320, -1 / 3628800, 1 / 479001600];

const isTrig = (n: NodeProto) => (n.opType === "Sin" || n.opType === "Cos") && (n.domain ?? "") === "";

/**
 * The model (ONNX bytes) with every Sin/Cos of its main graph replaced by the
 * polynomial above (same input and output names, in place). Returns the input
 * bytes unchanged when there is none. The graph must be float32 there (the
 * constants are float32).
 */
export function expandTrig(model: Uint8Array): Uint8Array {
  return rewriteNodes(model, "trig", isTrig, (n, { op, k, v }) => {
    const x = n.input![0]!;
    // range reduction: r = x − 2π·round(x / 2π)
    const q = op("Floor", [op("Add", [op("Mul", [x, k(1 / (2 * Math.PI))], v("q0")), k(0.5)], v("q1"))], v("k"));
    const r1 = op("Add", [x, op("Mul", [q, k(-TWO_PI_HI)], v("khi"))], v("r1"));
    const r = op("Add", [r1, op("Mul", [q, k(-TWO_PI_LO)], v("klo"))], v("r"));
    const h = op("Mul", [r, k(0.5)], v("h"));
    const h2 = op("Mul", [h, h], v("h2"));
    // Horner in h²
    const horner = (cs: number[], tag: string) => {
      let acc = k(cs[cs.length - 1]!);
      for (let j = cs.length - 2; j >= 0; j--) acc = op("Add", [op("Mul", [acc, h2], v(`${tag}m${j}`)), k(cs[j]!)], v(`${tag}a${j}`));
      return acc;
    };
    const s = op("Mul", [h, horner(SIN, "s")], v("sin_h"));
    if (n.opType === "Sin") {
      const c = horner(COS, "c");
      op("Mul", [op("Mul", [s, c], v("sc")), k(2)], n.output![0]!);
    } else {
      op("Add", [op("Mul", [op("Mul", [s, s], v("ss")), k(-2)], v("m2ss")), k(1)], n.output![0]!);
    }
  });
}
