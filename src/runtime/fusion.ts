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

type Activation = "gelu" | "gelu_exact" | "silu" | "tanh";

/** The activation a jit named `gelu…`/`silu`/`tanh` computes (GELU's variant read off its body). */
function activationOf(base: string, jaxpr: Jaxpr): Activation {
  if (base === "gelu") return containsPrimitive(jaxpr, ["erf", "erfc"]) ? "gelu_exact" : "gelu";
  return base as Activation;
}

/** act(x) as native ops. */
function activation(low: Lowerer, act: Activation, x: Val): Val {
  switch (act) {
    case "gelu":
      return low.elementwise("Gelu", [x], "float32", { approximate: "tanh" });
    case "gelu_exact":
      return low.elementwise("Gelu", [x], "float32");
    case "silu":
      return low.elementwise("Mul", [x, low.elementwise("Sigmoid", [x], "float32")], "float32");
    case "tanh":
      return low.elementwise("Tanh", [x], "float32");
  }
}

/**
 * ct · act'(x) as native ops: one pass per op over the activation's input,
 * where jax-js's transposed jvp takes 2–3× as many (its tanh goes through exp,
 * sign and reciprocal, and it keeps ~15 residuals of GELU alive from forward
 * to backward).
 */
function activationBackward(low: Lowerer, act: Activation, x: Val, ct: Val): Val {
  const k = (v: number): Val => ({ name: low.g.constant("float32", [], [v]), shape: [], phys: [], dtype: "float32" });
  const op = (o: string, ...ins: Val[]) => low.elementwise(o, ins, "float32");
  let d: Val;
  switch (act) {
    case "gelu": {
      // d/dx ½x(1 + tanh u), u = c(x + a x³): ½(1 + t) + ½ x (1 − t²) c (1 + 3a x²)
      const c = Math.fround(Math.sqrt(2 / Math.PI));
      const a = Math.fround(0.044715);
      const x2 = op("Mul", x, x);
      const t = op("Tanh", op("Mul", op("Mul", x, op("Add", op("Mul", x2, k(a)), k(1))), k(c)));
      const du = op("Add", op("Mul", x2, k(3 * a * c)), k(c));
      const sech2 = op("Sub", k(1), op("Mul", t, t));
      d = op("Mul", op("Add", op("Add", t, k(1)), op("Mul", op("Mul", x, sech2), du)), k(0.5));
      break;
    }
    case "gelu_exact": {
      // Φ(x) + x φ(x)
      const cdf = op("Mul", op("Add", op("Erf", op("Mul", x, k(Math.SQRT1_2))), k(1)), k(0.5));
      const pdf = op("Mul", op("Exp", op("Mul", op("Mul", x, x), k(-0.5))), k(1 / Math.sqrt(2 * Math.PI)));
      d = op("Add", cdf, op("Mul", x, pdf));
      break;
    }
    case "silu": {
      // σ(x) (1 + x (1 − σ(x)))
      const sg = op("Sigmoid", x);
      d = op("Mul", sg, op("Add", op("Mul", x, op("Sub", k(1), sg)), k(1)));
      break;
    }
    case "tanh": {
      const t = op("Tanh", x);
      d = op("Sub", k(1), op("Mul", t, t));
      break;
    }
  }
  return op("Mul", ct, d);
}

/**
 * jax-js differentiates a named activation jit into `<name>_jvp_peval`
 * (x → primal output and residuals, in the forward pass) and
 * `<name>_jvp_resid_t` (residuals and the cotangent → ∂x, in the backward
 * pass). The primal becomes the native op; the backward is recomputed from x
 * natively, so the residuals die (dead-code elimination).
 */
function fuseActivationJvp(low: Lowerer, eqn: JaxprEqn, base: string, part: string): Val[] | undefined {
  if (part === "peval") {
    if (eqn.inputs.length !== 1 || isLit(eqn.inputs[0]!)) return undefined;
    const x = low.read(eqn.inputs[0]!);
    const out0 = eqn.outBinders[0]!.aval;
    if (x.dtype !== "float32" || out0.dtype !== "float32" || out0.shape.join() !== x.shape.join()) return undefined;
    const jaxpr = eqn.params.jaxpr as Jaxpr;
    const outs = low.lowerJaxpr(jaxpr, [x], `jit '${eqn.params.name as string}'`);
    outs[0] = activation(low, activationOf(base, jaxpr), x);
    return outs;
  }
  // resid_t: every input but the cotangent is an output of one `<base>_jvp_peval`.
  if (eqn.outBinders.length !== 1) return undefined;
  let peval: JaxprEqn | undefined;
  let ct: Atom | undefined;
  for (const a of eqn.inputs) {
    const p = isLit(a) ? undefined : low.producers.get(a as Jaxpr["inBinders"][number]);
    if (p && (p.primitive as string) === "jit" && p.params.name === `${base}_jvp_peval`) {
      if (peval && peval !== p) return undefined;
      peval = p;
    } else {
      if (ct) return undefined;
      ct = a;
    }
  }
  if (!peval || !ct || isLit(ct) || peval.inputs.length !== 1 || isLit(peval.inputs[0]!)) return undefined;
  const x = low.read(peval.inputs[0]!);
  const g = low.read(ct);
  const out = eqn.outBinders[0]!.aval;
  if (x.dtype !== "float32" || g.dtype !== "float32" || out.shape.join() !== x.shape.join()) return undefined;
  return [activationBackward(low, activationOf(base, peval.params.jaxpr as Jaxpr), x, g)];
}

/** Lower `eqn` as a fused native op if it matches a known pattern; otherwise undefined. */
export function fuseEquation(low: Lowerer, eqn: JaxprEqn): Val[] | undefined {
  const prim = eqn.primitive as string;
  if (prim === "jit") {
    const m = /^(gelu|silu|tanh)_jvp_(peval|resid_t)$/.exec(eqn.params.name as string);
    if (m) return fuseActivationJvp(low, eqn, m[1]!, m[2]!);
  }
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
