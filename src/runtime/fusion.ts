/**
 * Pattern matching of jax-js decompositions to native ONNX ops.
 *
 * ONNX Runtime does not recognise GELU, SiLU, tanh, softmax or LayerNorm in
 * jax-js's elementwise decompositions, and running them piecewise costs
 * 10–25 % of a DiT block's forward time. The named nested jits make the
 * activations easy; softmax and LayerNorm are matched on their equation graphs.
 * A fused op replaces only the final equation: intermediates that other
 * equations still use (residuals of a backward pass) stay, and the rest are
 * removed by dead-code elimination.
 */
import type { Jaxpr } from "@jax-js/jax";

type JaxprEqn = Jaxpr["eqns"][number];
import type { Lowerer, Val } from "./lower.js";

type Atom = JaxprEqn["inputs"][number];

function isLit(a: Atom): a is Atom & { value: number } {
  return "value" in a;
}

function prod(low: Lowerer, a: Atom | undefined, prim: string): JaxprEqn | undefined {
  if (!a || isLit(a)) return undefined;
  const e = low.producers.get(a as Jaxpr["inBinders"][number]);
  return e && (e.primitive as string) === prim ? e : undefined;
}

/** Operands of a commutative binary equation, in both orders. */
function orders(eqn: JaxprEqn): [Atom, Atom][] {
  const [x, y] = eqn.inputs as [Atom, Atom];
  return [
    [x, y],
    [y, x],
  ];
}

function lastAxisReduce(e: JaxprEqn | undefined, op: string): boolean {
  if (!e) return false;
  const axis = e.params.axis as number[];
  const rank = e.inputs[0]!.aval.shape.length;
  return e.params.op === op && axis.length === 1 && axis[0] === rank - 1;
}

function containsPrimitive(jaxpr: Jaxpr, names: string[]): boolean {
  return jaxpr.eqns.some(
    (e) => names.includes(e.primitive as string) || ((e.primitive as string) === "jit" && containsPrimitive(e.params.jaxpr as Jaxpr, names)),
  );
}

/** softmax(x) = exp(x − stop_gradient(max x)) · 1/Σexp(…) over one axis. */
function matchSoftmax(low: Lowerer, eqn: JaxprEqn): { x: Atom; axis: number } | undefined {
  for (const [e, r] of orders(eqn)) {
    const sum = prod(low, prod(low, prod(low, r, "reciprocal")?.inputs[0], "reshape")?.inputs[0], "reduce");
    if (!sum || sum.params.op !== "Add" || sum.inputs[0] !== e) continue;
    const axis = sum.params.axis as number[];
    if (axis.length !== 1) continue;
    const add = prod(low, prod(low, e, "exp")?.inputs[0], "add");
    if (!add) continue;
    for (const [x, n] of orders(add)) {
      let m = prod(low, n, "neg")?.inputs[0];
      m = prod(low, m, "stop_gradient")?.inputs[0] ?? m;
      const max = prod(low, prod(low, m, "reshape")?.inputs[0], "reduce");
      if (max && max.params.op === "Max" && max.inputs[0] === x && (max.params.axis as number[])[0] === axis[0]) {
        return { x, axis: axis[0]! };
      }
    }
  }
  return undefined;
}

/** LayerNorm without affine: (x − mean)·1/√(mean((x − mean)²) + ε) over the last axis. */
function matchLayerNorm(low: Lowerer, eqn: JaxprEqn): { x: Atom; eps: number } | undefined {
  for (const [xc, r] of orders(eqn)) {
    const addEps = prod(low, prod(low, prod(low, r, "reciprocal")?.inputs[0], "sqrt")?.inputs[0], "add");
    if (!addEps) continue;
    for (const [v, eps] of orders(addEps)) {
      if (!isLit(eps)) continue;
      const varMul = prod(low, v, "mul");
      if (!varMul) continue;
      for (const [rs, c2] of orders(varMul)) {
        if (!isLit(c2)) continue;
        const red2 = prod(low, prod(low, rs, "reshape")?.inputs[0], "reduce");
        if (!lastAxisReduce(red2, "Add")) continue;
        const sq = prod(low, red2!.inputs[0], "mul");
        if (!sq || sq.inputs[0] !== xc || sq.inputs[1] !== xc) continue;
        const center = prod(low, xc, "add");
        if (!center) continue;
        for (const [x, nm] of orders(center)) {
          const meanMul = prod(low, prod(low, nm, "neg")?.inputs[0], "mul");
          if (!meanMul) continue;
          for (const [rs1, c1] of orders(meanMul)) {
            if (!isLit(c1)) continue;
            const red1 = prod(low, prod(low, rs1, "reshape")?.inputs[0], "reduce");
            if (!lastAxisReduce(red1, "Add") || red1!.inputs[0] !== x) continue;
            const d = x.aval.shape[x.aval.shape.length - 1]!;
            const close = (c: number) => Math.abs(c * d - 1) < 1e-6;
            if (close(c1.value) && close(c2.value)) return { x, eps: eps.value };
          }
        }
      }
    }
  }
  return undefined;
}

/** Lower `eqn` as a fused native op if it matches a known pattern; otherwise undefined. */
export function fuseEquation(low: Lowerer, eqn: JaxprEqn): Val[] | undefined {
  const prim = eqn.primitive as string;
  if (prim === "jit" && eqn.inputs.length === 1 && eqn.outBinders.length === 1) {
    const name = eqn.params.name as string;
    const x = low.read(eqn.inputs[0]!);
    const dtype = x.dtype;
    if (dtype !== "float32") return undefined;
    if (name === "tanh") return [low.elementwise("Tanh", [x], dtype)];
    if (name === "gelu") {
      const exact = containsPrimitive(eqn.params.jaxpr as Jaxpr, ["erf", "erfc"]);
      return [low.elementwise("Gelu", [x], dtype, exact ? {} : { approximate: "tanh" })];
    }
    if (name === "silu") {
      const sig = low.elementwise("Sigmoid", [x], dtype);
      return [low.elementwise("Mul", [x, sig], dtype)];
    }
    return undefined;
  }
  if (prim === "mul" && eqn.outBinders[0]!.aval.dtype === "float32") {
    const sm = matchSoftmax(low, eqn);
    if (sm) {
      const x = low.materialize(low.read(sm.x), [sm.axis]);
      return [{ ...x, name: low.g.op("Softmax", [x.name], { axis: sm.axis }) }];
    }
    const ln = matchLayerNorm(low, eqn);
    if (ln) {
      const x0 = low.read(ln.x);
      const last = x0.shape.length - 1;
      const x = low.materialize(x0, [last]);
      const d = x.shape[last]!;
      const scale = low.g.constant("float32", [d], new Float32Array(d).fill(1));
      const bias = low.g.constant("float32", [d], new Float32Array(d));
      const name = low.g.op("LayerNormalization", [x.name, scale, bias], { axis: -1, epsilon: { float: ln.eps } });
      return [{ ...x, name }];
    }
  }
  return undefined;
}
