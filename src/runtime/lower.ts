/**
 * Lowering of a jax-js jaxpr to an ONNX graph.
 *
 * Every value carries two shapes: its logical shape (what jax-js says) and its
 * physical shape (what the ONNX tensor really holds). They differ only on axes
 * that are logically broadcast, which are 1 physically: `broadcast` becomes an
 * Unsqueeze and ONNX's own broadcasting does the rest. This matters for the
 * transpose rule of `dot`, which broadcasts the cotangent before contracting:
 * materialised, the MLP input gradient of DiT-XL alone would need ~11 GB.
 * Values are materialised (Expand) only where an op needs real data: outputs,
 * pads, concatenations, gathers.
 */
import { DitError } from "../errors.js";
import type { ClosedJaxpr, Jaxpr } from "@jax-js/jax";
import { dtypeInfo, isFloat, numel, type TypedArray } from "./dtype.js";
import { Graph, type GraphIO } from "./onnx-graph.js";
import { fuseEquation } from "./fusion.js";

/** A lowered value: an ONNX tensor name with logical and physical shapes. */
export interface Val {
  name: string;
  shape: number[];
  phys: number[];
  dtype: string;
}

/** Raised when a jaxpr cannot be lowered; names the primitive and where it came from. */
export class LoweringError extends DitError {
  constructor(message: string) {
    super(message);
    this.name = "LoweringError";
  }
}

/** One equation of a jaxpr. */
export type JaxprEqn = Jaxpr["eqns"][number];
type Atom = JaxprEqn["inputs"][number];
/** A jaxpr variable. */
export type VarT = Jaxpr["inBinders"][number];

const UNARY: Record<string, string> = {
  neg: "Neg",
  reciprocal: "Reciprocal",
  exp: "Exp",
  log: "Log",
  sqrt: "Sqrt",
  sin: "Sin",
  cos: "Cos",
  asin: "Asin",
  atan: "Atan",
  floor: "Floor",
  ceil: "Ceil",
  erf: "Erf",
};
const BINARY: Record<string, string> = { add: "Add", mul: "Mul", min: "Min", max: "Max" };

export function broadcastShapes(a: number[], b: number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new LoweringError(`cannot broadcast shapes [${a}] and [${b}]`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** The common dtype of mixed operands (as jax-js promotes them: bool < uint32 < int32 < floats). */
function promoteDtypes(dtypes: string[]): string {
  const rank = ["bool", "uint32", "int32", "float16", "float32", "float64"];
  return dtypes.reduce((a, b) => (rank.indexOf(b) > rank.indexOf(a) ? b : a));
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Lowering context for one graph: the builder plus the jaxpr variable environment. */
export class Lowerer {
  readonly g = new Graph();
  /** Equations producing each variable of the jaxpr being lowered (for fusion). */
  producers: Map<VarT, JaxprEqn> = new Map();
  private env = new Map<VarT, Val>();
  /** How often each variable of the jaxpr being lowered is used. */
  private uses = new Map<VarT, number>();
  private where: string[] = [];

  /** Lower a closed jaxpr whose non-const inputs are graph inputs with the given names. */
  lowerClosed(closed: ClosedJaxpr, inputs: GraphIO[], outputNames: string[]): void {
    const { jaxpr, consts } = closed;
    const nConst = consts.length;
    if (jaxpr.inBinders.length !== nConst + inputs.length) {
      throw new LoweringError(`jaxpr takes ${jaxpr.inBinders.length - nConst} inputs, got ${inputs.length} input specs`);
    }
    const args: Val[] = [];
    consts.forEach((c, i) => {
      const v = jaxpr.inBinders[i]!;
      const shape = [...v.aval.shape];
      const data = (c as unknown as { ref: { dataSync(): TypedArray } }).ref.dataSync();
      const name = this.g.addInitializer(this.g.fresh("const"), v.aval.dtype, shape, data);
      args.push({ name, shape, phys: shape, dtype: v.aval.dtype });
    });
    inputs.forEach((io, i) => {
      const v = jaxpr.inBinders[nConst + i]!;
      if (!sameShape([...v.aval.shape], io.shape) || v.aval.dtype !== io.dtype) {
        throw new LoweringError(
          `input ${io.name}: jaxpr expects ${v.aval.dtype}[${v.aval.shape}], spec says ${io.dtype}[${io.shape}]`,
        );
      }
      this.g.inputs.push(io);
      args.push({ name: io.name, shape: io.shape, phys: io.shape, dtype: io.dtype });
    });
    const outs = this.lowerJaxpr(jaxpr, args, "top");
    if (outs.length !== outputNames.length) throw new LoweringError("output count mismatch");
    outs.forEach((o, i) => {
      const full = this.materialize(o);
      const name = outputNames[i]!;
      this.g.nodes.push({ op: "Identity", inputs: [full.name], outputs: [name], attrs: {} });
      this.g.outputs.push({ name, dtype: o.dtype, shape: o.shape });
    });
    this.g.eliminateDeadCode();
  }

  /** Lower the equations of a jaxpr given values for its inputs; returns its outputs. */
  lowerJaxpr(jaxpr: Jaxpr, args: Val[], name: string): Val[] {
    const savedEnv = this.env;
    const savedProducers = this.producers;
    const savedUses = this.uses;
    this.env = new Map();
    this.producers = new Map();
    this.uses = new Map();
    for (const e of jaxpr.eqns) for (const a of e.inputs) if (!("value" in a)) this.uses.set(a, (this.uses.get(a) ?? 0) + 1);
    for (const a of jaxpr.outs) if (!("value" in a)) this.uses.set(a, (this.uses.get(a) ?? 0) + 1);
    this.where.push(name);
    try {
      jaxpr.inBinders.forEach((v, i) => this.env.set(v, args[i]!));
      jaxpr.eqns.forEach((eqn, i) => {
        for (const o of eqn.outBinders) this.producers.set(o, eqn);
        let outs: Val[];
        try {
          outs = fuseEquation(this, eqn) ?? this.lowerEqn(eqn);
        } catch (e) {
          if (e instanceof LoweringError && e.message.includes(" (at ")) throw e;
          const msg = e instanceof Error ? e.message : String(e);
          const text = eqn.toString().split("\n")[0]!.slice(0, 200);
          throw new LoweringError(`${msg} (at ${this.where.join(" > ")} equation ${i}: ${text})`);
        }
        eqn.outBinders.forEach((o, k) => this.env.set(o, outs[k]!));
      });
      return jaxpr.outs.map((a) => this.read(a));
    } finally {
      this.env = savedEnv;
      this.producers = savedProducers;
      this.uses = savedUses;
      this.where.pop();
    }
  }

  /** The lowered value of an atom (a literal becomes a scalar constant). */
  read(a: Atom, dtype?: string): Val {
    if ("value" in a) {
      const dt = dtype ?? a.aval.dtype;
      return { name: this.g.constant(dt, [], [a.value]), shape: [], phys: [], dtype: dt };
    }
    const v = this.env.get(a);
    if (!v) throw new LoweringError(`variable ${a.toString()} used before definition`);
    return v;
  }

  /** Read the inputs of an n-ary op; literals take the dtype of the first variable input. */
  readInputs(eqn: JaxprEqn, litDtype?: string): Val[] {
    const firstVar = eqn.inputs.find((a) => !("value" in a));
    const dt = litDtype ?? (firstVar ? firstVar.aval.dtype : undefined);
    return eqn.inputs.map((a) => this.read(a, "value" in a ? dt : undefined));
  }

  /** Expand broadcast axes so that the physical shape equals `target` (default: logical). */
  materialize(v: Val, axes?: number[]): Val {
    const phys = v.phys.map((p, i) => (axes === undefined || axes.includes(i) ? v.shape[i]! : p));
    if (sameShape(phys, v.phys)) return v;
    const name = this.g.op("Expand", [v.name, this.g.int64s(phys)]);
    return { ...v, name, phys };
  }

  /** Elementwise op with numpy broadcasting on logical and physical shapes alike. */
  elementwise(op: string, ins: Val[], outDtype: string, attrs = {}): Val {
    const shape = ins.map((v) => v.shape).reduce(broadcastShapes);
    const phys = ins.map((v) => v.phys).reduce(broadcastShapes);
    const padded = [...Array<number>(shape.length - phys.length).fill(1), ...phys];
    return { name: this.g.op(op, ins.map((v) => v.name), attrs), shape, phys: padded, dtype: outDtype };
  }

  private lowerEqn(eqn: JaxprEqn): Val[] {
    const prim = eqn.primitive as string;
    const params = eqn.params;
    const outAval = eqn.outBinders[0]!.aval;
    const outDtype = outAval.dtype as string;

    if (UNARY[prim]) return [this.elementwise(UNARY[prim], this.readInputs(eqn), outDtype)];
    if (prim === "add" && isFloat(outDtype)) {
      const folded = this.foldBias(eqn);
      if (folded) return [folded];
    }
    if (BINARY[prim] && outDtype === "bool") {
      // ONNX arithmetic has no bool kernels: on booleans mul/min are And, add/max are Or
      const op = prim === "mul" || prim === "min" ? "And" : "Or";
      return [this.elementwise(op, this.castTo(this.readInputs(eqn), "bool"), "bool")];
    }
    if (BINARY[prim]) return [this.elementwise(BINARY[prim], this.castTo(this.readInputs(eqn), outDtype), outDtype)];
    switch (prim) {
      case "stop_gradient":
        return [this.read(eqn.inputs[0]!)];
      case "erfc": {
        const [x] = this.readInputs(eqn);
        const erf = this.elementwise("Erf", [x!], outDtype);
        const one = this.read({ value: 1, aval: outAval } as unknown as Atom, outDtype);
        return [this.elementwise("Sub", [one, erf], outDtype)];
      }
      case "idiv":
      case "mod": {
        const ins = this.castTo(this.readInputs(eqn), outDtype);
        // jax-js semantics are C's: idiv truncates toward zero, mod takes the sign of the dividend.
        if (prim === "mod") return [this.elementwise("Mod", ins, outDtype, { fmod: 1 })];
        const q = this.elementwise("Div", ins, outDtype);
        if (!isFloat(outDtype)) return [q]; // ONNX integer Div truncates already
        // float: trunc(q) = sign(q) · floor(|q|) (ONNX has no Trunc)
        const mag = this.elementwise("Floor", [this.elementwise("Abs", [q], outDtype)], outDtype);
        return [this.elementwise("Mul", [this.elementwise("Sign", [q], outDtype), mag], outDtype)];
      }
      case "compare": {
        const read = this.readInputs(eqn);
        const ins = this.castTo(read, promoteDtypes(read.map((v) => v.dtype)));
        const op = params.op as string;
        if (op === "less") return [this.elementwise("Less", ins, "bool")];
        if (op === "less_equal") return [this.elementwise("LessOrEqual", ins, "bool")];
        if (op === "equal") return [this.elementwise("Equal", ins, "bool")];
        if (op === "not_equal") {
          const eq = this.elementwise("Equal", ins, "bool");
          return [{ ...eq, name: this.g.op("Not", [eq.name]) }];
        }
        throw new LoweringError(`compare op '${op}' has no lowering`);
      }
      case "where": {
        const cond = this.read(eqn.inputs[0]!);
        const [a, b] = this.castTo(eqn.inputs.slice(1).map((x) => this.read(x, outDtype)), outDtype);
        return [this.elementwise("Where", [cond, a!, b!], outDtype)];
      }
      case "cast": {
        const x = this.read(eqn.inputs[0]!);
        if (x.dtype === outDtype) return [x];
        return [{ ...x, name: this.g.op("Cast", [x.name], { to: this.onnxType(outDtype) }), dtype: outDtype }];
      }
      case "reduce":
        return [this.reduce(this.read(eqn.inputs[0]!), params.op as string, params.axis as number[])];
      case "dot": {
        const [a, b] = this.castTo(this.readInputs(eqn), outDtype);
        return [this.dot(a!, b!)];
      }
      case "reshape":
        return [this.reshape(this.read(eqn.inputs[0]!), params.shape as number[])];
      case "transpose": {
        const x = this.read(eqn.inputs[0]!);
        const perm = params.perm as number[];
        return [{ name: this.g.transpose(x.name, perm, x.phys), shape: perm.map((p) => x.shape[p]!), phys: perm.map((p) => x.phys[p]!), dtype: x.dtype }];
      }
      case "broadcast":
        return [this.broadcast(this.read(eqn.inputs[0]!), params.shape as number[], params.axis as number[])];
      case "shrink":
        return [this.shrink(this.read(eqn.inputs[0]!), params.slice as [number, number][])];
      case "pad":
        return [this.pad(this.read(eqn.inputs[0]!), params.width as [number, number][])];
      case "concatenate":
        return [this.concatenate(this.castTo(eqn.inputs.map((a) => this.read(a, outDtype)), outDtype), params.axis as number)];
      case "split":
        return this.split(this.read(eqn.inputs[0]!), params.axis as number, params.sizes as number[]);
      case "flip": {
        let x = this.read(eqn.inputs[0]!);
        const axes = (params.axis as number[]).filter((a) => x.phys[a]! > 1);
        if (axes.length === 0) return [x];
        x = this.materialize(x, axes);
        const name = this.g.op("Slice", [
          x.name,
          this.g.int64s(axes.map(() => -1)),
          this.g.int64s(axes.map(() => -(2 ** 62))),
          this.g.int64s(axes),
          this.g.int64s(axes.map(() => -1)),
        ]);
        return [{ ...x, name }];
      }
      case "gather":
        return [this.gather(eqn)];
      case "scatter":
        return [this.scatter(eqn)];
      case "conv":
        return [this.conv(eqn)];
      case "jit": {
        const inner = params.jaxpr as Jaxpr;
        return this.lowerJaxpr(inner, eqn.inputs.map((a) => this.read(a)), `jit '${params.name as string}'`);
      }
      default:
        throw new LoweringError(`primitive '${prim}' has no ONNX lowering`);
    }
  }

  onnxType(dtype: string): number {
    return dtypeInfo(dtype).onnx;
  }

  /**
   * Cast values to `dtype` where they differ. jax-js promotes mixed operand
   * dtypes inside its primitives (`add f32 i32` appears in jaxprs, e.g. with an
   * `np.arange` constant), but ONNX ops need operands of one type.
   */
  castTo(vals: Val[], dtype: string): Val[] {
    return vals.map((v) => (v.dtype === dtype ? v : { ...v, name: this.g.op("Cast", [v.name], { to: this.onnxType(dtype) }), dtype }));
  }

  reduce(x: Val, op: string, axis: number[]): Val {
    const shape = x.shape.filter((_, i) => !axis.includes(i));
    const phys = x.phys.filter((_, i) => !axis.includes(i));
    const onnxOp = ({ Add: "ReduceSum", Max: "ReduceMax", Min: "ReduceMin", Mul: "ReduceProd" } as Record<string, string>)[op];
    if (!onnxOp) throw new LoweringError(`reduce op '${op}' has no lowering`);
    if (axis.length === 0) return x;
    // Axes that are only logically broadcast: a sum scales by their size, max/min ignore them.
    let bcastFactor = numel(axis.map((a) => (x.phys[a] === 1 ? x.shape[a]! : 1)));
    // A product over them needs the real data (x^n): materialise those axes.
    if (op === "Mul" && bcastFactor > 1) {
      x = this.materialize(x, axis);
      bcastFactor = 1;
    }
    let name = this.g.op(onnxOp, [x.name, this.g.int64s(axis)], { keepdims: 0 });
    if (op === "Add" && bcastFactor > 1) name = this.g.op("Mul", [name, this.g.constant(x.dtype, [], [bcastFactor])]);
    return { name, shape, phys, dtype: x.dtype };
  }

  reshape(x: Val, shape: number[]): Val {
    const groups = reshapeGroups(x.shape, shape);
    const phys = shape.map(() => 1);
    const toExpand: number[] = [];
    for (const { ins, outs } of groups) {
      const big = ins.filter((i) => x.shape[i]! > 1);
      const bcast = big.filter((i) => x.phys[i] === 1);
      if (big.length > 0 && bcast.length === big.length) continue; // wholly broadcast: stays 1
      if (bcast.length > 0) toExpand.push(...bcast); // partly broadcast: must be real data
      for (const o of outs) phys[o] = shape[o]!;
    }
    const src = toExpand.length ? this.materialize(x, toExpand) : x;
    return { name: this.g.reshape(src.name, src.phys, phys), shape, phys, dtype: x.dtype };
  }

  broadcast(x: Val, shape: number[], axis: number[]): Val {
    const phys: number[] = [];
    let k = 0;
    for (let i = 0; i < shape.length; i++) phys.push(axis.includes(i) ? 1 : x.phys[k++]!);
    if (k !== x.shape.length) throw new LoweringError(`broadcast of rank ${x.shape.length} to [${shape}] with new axes [${axis}]`);
    const name = axis.length ? this.g.op("Unsqueeze", [x.name, this.g.int64s([...axis].sort((a, b) => a - b))]) : x.name;
    return { name, shape, phys, dtype: x.dtype };
  }

  shrink(x: Val, slice: [number, number][]): Val {
    const axes: number[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    const shape = slice.map(([s, e]) => e - s);
    const phys = x.phys.map((p, i) => (p === 1 ? 1 : shape[i]!));
    slice.forEach(([s, e], i) => {
      if (x.phys[i] !== 1 && (s !== 0 || e !== x.shape[i])) {
        axes.push(i);
        starts.push(s);
        ends.push(e);
      }
    });
    if (axes.length === 0) return { ...x, shape, phys };
    const name = this.g.op("Slice", [x.name, this.g.int64s(starts), this.g.int64s(ends), this.g.int64s(axes)]);
    return { name, shape, phys, dtype: x.dtype };
  }

  pad(x: Val, width: [number, number][]): Val {
    const axes = width.map((w, i) => (w[0] !== 0 || w[1] !== 0 ? i : -1)).filter((i) => i >= 0);
    if (axes.length === 0) return x;
    const src = this.materialize(x, axes);
    const pads = [...width.map((w) => w[0]), ...width.map((w) => w[1])];
    const shape = x.shape.map((d, i) => d + width[i]![0] + width[i]![1]);
    const phys = src.phys.map((p, i) => (axes.includes(i) ? shape[i]! : p));
    return { name: this.g.op("Pad", [src.name, this.g.int64s(pads)]), shape, phys, dtype: x.dtype };
  }

  concatenate(xs: Val[], axis: number): Val {
    const rank = xs[0]!.shape.length;
    const keepBcast = Array.from({ length: rank }, (_, i) => i !== axis && xs.every((x) => x.phys[i] === 1));
    const srcs = xs.map((x) => this.materialize(x, x.shape.map((_, i) => i).filter((i) => !keepBcast[i])));
    const shape = [...xs[0]!.shape];
    shape[axis] = xs.reduce((s, x) => s + x.shape[axis]!, 0);
    const phys = shape.map((d, i) => (keepBcast[i] ? 1 : d));
    return { name: this.g.op("Concat", srcs.map((s) => s.name), { axis }), shape, phys, dtype: xs[0]!.dtype };
  }

  split(x: Val, axis: number, sizes: number[]): Val[] {
    if (x.phys[axis] === 1) {
      return sizes.map((s) => ({ ...x, shape: x.shape.map((d, i) => (i === axis ? s : d)) }));
    }
    const names = this.g.addNode("Split", [x.name, this.g.int64s(sizes)], { axis }, sizes.length);
    return sizes.map((s, k) => ({
      name: names[k]!,
      shape: x.shape.map((d, i) => (i === axis ? s : d)),
      phys: x.phys.map((d, i) => (i === axis ? s : d)),
      dtype: x.dtype,
    }));
  }

  /**
   * scatter (the transpose of a one-axis gather, e.g. an embedding's gradient):
   * updates laid out as [index dims, remaining axes] go into zeros of
   * [axis, remaining axes] with ScatterND (reduction add for "add"), then the
   * axis is moved back into place.
   */
  scatter(eqn: JaxprEqn): Val {
    const { op, shape, axis, outDim } = eqn.params as { op: string; shape: number[]; axis: number[]; outDim: number };
    if (axis.length !== 1 || eqn.inputs.length !== 2) {
      throw new LoweringError(`scatter over ${axis.length} axes has no lowering (one axis only)`);
    }
    const a = axis[0]!;
    const upd = this.materialize(this.read(eqn.inputs[0]!));
    const idx = this.materialize(this.read(eqn.inputs[1]!));
    const k = idx.shape.length;
    const rank = upd.shape.length;
    // updates: rest[:outDim] + idx + rest[outDim:]  →  idx + rest
    const perm = [...Array(k).keys()].map((j) => outDim + j);
    for (let i = 0; i < rank; i++) if (i < outDim || i >= outDim + k) perm.push(i);
    const updT = this.g.transpose(upd.name, perm, upd.phys);
    const rest = shape.filter((_, i) => i !== a);
    const dataShape = [shape[a]!, ...rest];
    let zeros = this.g.op("ConstantOfShape", [this.g.int64s(dataShape)]); // float32 zeros
    if (upd.dtype !== "float32") zeros = this.g.op("Cast", [zeros], { to: this.onnxType(upd.dtype) });
    const ind = this.g.op("Unsqueeze", [this.g.op("Cast", [idx.name], { to: 7 }), this.g.int64s([k])]); // int64 (…, 1)
    const attrs: Record<string, string> = op === "add" ? { reduction: "add" } : {};
    const scattered = this.g.op("ScatterND", [zeros, ind, updT], attrs);
    // [axis, rest…] → original order
    const back = shape.map((_, i) => (i === a ? 0 : i < a ? i + 1 : i));
    return { name: this.g.transpose(scattered, back), shape: [...shape], phys: [...shape], dtype: upd.dtype };
  }

  /**
   * jax-js `conv` (lhs [vmap…, N, C, xs…], rhs [vmap…, O, C, ks…]) as one ONNX
   * Conv. Leading vmap dims fold into the batch when the kernel is broadcast
   * over them, and otherwise become Conv groups. lhsDilation (the input
   * gradient of a strided conv) inserts zeros with Pad + Reshape; negative
   * padding is a Slice.
   */
  conv(eqn: JaxprEqn): Val {
    const p = eqn.params as { vmapDims: number; strides: number[]; padding: [number, number][]; lhsDilation: number[]; rhsDilation: number[] };
    const outDtype = eqn.outBinders[0]!.aval.dtype as string;
    const outShape = [...eqn.outBinders[0]!.aval.shape];
    const v = p.vmapDims;
    let [x, w] = this.castTo(this.readInputs(eqn), outDtype) as [Val, Val];
    const n = x.shape.length - 2 - v;
    const rest = (val: Val) => val.shape.map((_, i) => i).filter((i) => i >= v);
    x = this.materialize(x, rest(x));
    w = this.materialize(w, rest(w));
    const [N, C] = [x.shape[v]!, x.shape[v + 1]!];
    const O = w.shape[v]!;
    const xs = x.shape.slice(v + 2);
    const ks = w.shape.slice(v + 2);
    const ys = outShape.slice(v + 2);
    const vShape = outShape.slice(0, v);
    const folded = w.phys.slice(0, v).every((d) => d === 1);
    let B: number;
    let G = 1;
    let xName: string;
    let wName: string;
    let outPhysV: number[];
    if (folded) {
      // the kernel is shared across the vmap dims: they are batch
      outPhysV = x.phys.slice(0, v);
      B = numel(outPhysV) * N;
      xName = this.g.reshape(x.name, x.phys, [B, C, ...xs]);
      wName = this.g.reshape(w.name, w.phys, [O, C, ...ks]);
    } else {
      // one kernel per vmap index: grouped Conv over the flattened vmap dims
      outPhysV = vShape;
      G = numel(vShape);
      B = N;
      const xFull = this.g.op("Expand", [x.name, this.g.int64s([...vShape, N, C, ...xs])]);
      const wFull = this.g.op("Expand", [w.name, this.g.int64s([...vShape, O, C, ...ks])]);
      const x4 = this.g.reshape(xFull, [...vShape, N, C, ...xs], [G, N, C, ...xs]);
      const xT = this.g.transpose(x4, [1, 0, ...Array.from({ length: n + 1 }, (_, i) => i + 2)], [G, N, C, ...xs]);
      xName = this.g.reshape(xT, [N, G, C, ...xs], [N, G * C, ...xs]);
      wName = this.g.reshape(wFull, [...vShape, O, C, ...ks], [G * O, C, ...ks]);
    }
    // lhs dilation: zeros between elements (the trailing d-1 zeros come off the high padding)
    let cur = [B, G * C, ...xs];
    const lo = p.padding.map((q) => q[0]);
    const hi = p.padding.map((q) => q[1]);
    for (let i = 0; i < n; i++) {
      const d = p.lhsDilation[i]!;
      const L = cur[i + 2]!;
      if (d === 1 || L <= 1) continue;
      const ax = i + 2;
      const unsq = [...cur.slice(0, ax + 1), 1, ...cur.slice(ax + 1)];
      let t = this.g.reshape(xName, cur, unsq);
      const pads = unsq.map(() => 0);
      const padsHi = unsq.map((_, j) => (j === ax + 1 ? d - 1 : 0));
      t = this.g.op("Pad", [t, this.g.int64s([...pads, ...padsHi])]);
      const next = cur.map((c, j) => (j === ax ? c * d : c));
      xName = this.g.reshape(t, [...cur.slice(0, ax + 1), d, ...cur.slice(ax + 1)], next);
      cur = next;
      hi[i] = hi[i]! - (d - 1);
    }
    // negative padding crops the input
    const sAxes: number[] = [];
    const sStarts: number[] = [];
    const sEnds: number[] = [];
    for (let i = 0; i < n; i++) {
      if (lo[i]! >= 0 && hi[i]! >= 0) continue;
      const L = cur[i + 2]!;
      const start = Math.max(0, -lo[i]!);
      const end = L - Math.max(0, -hi[i]!);
      sAxes.push(i + 2);
      sStarts.push(start);
      sEnds.push(end);
      cur = cur.map((c, j) => (j === i + 2 ? end - start : c));
      lo[i] = Math.max(0, lo[i]!);
      hi[i] = Math.max(0, hi[i]!);
    }
    if (sAxes.length > 0) xName = this.g.op("Slice", [xName, this.g.int64s(sStarts), this.g.int64s(sEnds), this.g.int64s(sAxes)]);
    // ONNX Conv needs a spatial axis
    const spatial = n === 0 ? 1 : n;
    if (n === 0) {
      xName = this.g.reshape(xName, cur, [...cur, 1]);
      wName = this.g.reshape(wName, [G * O, C], [G * O, C, 1]);
    }
    const one = (a: number[]) => (n === 0 ? [1] : a);
    const attrs: Record<string, number[] | number> = {
      pads: n === 0 ? [0, 0] : [...lo, ...hi],
      strides: one(p.strides),
      dilations: one(p.rhsDilation),
      kernel_shape: one(ks),
    };
    if (G > 1) attrs.group = G;
    let y = this.g.op("Conv", [xName, wName], attrs);
    const yPhys = [B, G * O, ...ys];
    if (spatial !== n) y = this.g.reshape(y, [...yPhys, 1], yPhys);
    let name: string;
    if (folded) {
      name = this.g.reshape(y, yPhys, [...outPhysV, N, O, ...ys]);
    } else {
      const y4 = this.g.reshape(y, yPhys, [N, G, O, ...ys]);
      const yT = this.g.transpose(y4, [1, 0, ...Array.from({ length: n + 1 }, (_, i) => i + 2)], [N, G, O, ...ys]);
      name = this.g.reshape(yT, [G, N, O, ...ys], [...vShape, N, O, ...ys]);
    }
    return { name, shape: outShape, phys: [...outPhysV, N, O, ...ys], dtype: outDtype };
  }

  gather(eqn: JaxprEqn): Val {
    const axis = eqn.params.axis as number[];
    const outDim = eqn.params.outDim as number;
    if (axis.length !== 1 || eqn.inputs.length !== 2) {
      throw new LoweringError(`gather over ${axis.length} axes has no lowering (one axis only)`);
    }
    const x = this.materialize(this.read(eqn.inputs[0]!));
    const idx = this.materialize(this.read(eqn.inputs[1]!));
    const a = axis[0]!;
    let name = this.g.op("Gather", [x.name, idx.name], { axis: a });
    // ONNX puts the index dims at `a`; jax-js at `outDim` among the remaining axes.
    const k = idx.shape.length;
    const rest = x.shape.length - 1;
    const onnxOrder: string[] = [];
    for (let i = 0; i < a; i++) onnxOrder.push(`r${i}`);
    for (let j = 0; j < k; j++) onnxOrder.push(`i${j}`);
    for (let i = a; i < rest; i++) onnxOrder.push(`r${i}`);
    const want: string[] = [];
    for (let i = 0; i < outDim; i++) want.push(`r${i}`);
    for (let j = 0; j < k; j++) want.push(`i${j}`);
    for (let i = outDim; i < rest; i++) want.push(`r${i}`);
    name = this.g.transpose(name, want.map((w) => onnxOrder.indexOf(w)));
    const shape = [...eqn.outBinders[0]!.aval.shape];
    return { name, shape, phys: shape, dtype: x.dtype };
  }

  /**
   * `dot(a, b)` = sum(a * b, axis=-1) with numpy broadcasting on the other axes.
   * Axes are classified as batch (real in both), M (only in a), N (only in b) or
   * trivial (broadcast in both); the product is one Gemm (no batch) or MatMul.
   */
  dot(a: Val, b: Val): Val {
    const r = Math.max(a.shape.length, b.shape.length);
    const pad = (v: Val): Val => {
      const k = r - v.shape.length;
      if (k === 0) return v;
      const ones = Array<number>(k).fill(1);
      return { ...v, name: this.g.op("Unsqueeze", [v.name, this.g.int64s(ones.map((_, i) => i))]), shape: [...ones, ...v.shape], phys: [...ones, ...v.phys] };
    };
    a = pad(a);
    b = pad(b);
    const K = Math.max(a.shape[r - 1]!, b.shape[r - 1]!);
    const outShape = broadcastShapes(a.shape.slice(0, -1), b.shape.slice(0, -1));
    let ka = a.phys[r - 1]!;
    const kb = b.phys[r - 1]!;
    const bothBroadcast = ka === 1 && kb === 1 && K > 1;
    // A contraction axis broadcast on one side: sum the other side over it first.
    if (ka === 1 && kb > 1) {
      b = { ...b, name: this.g.op("ReduceSum", [b.name, this.g.int64s([r - 1])], { keepdims: 1 }), phys: [...b.phys.slice(0, -1), 1] };
    } else if (kb === 1 && ka > 1) {
      a = { ...a, name: this.g.op("ReduceSum", [a.name, this.g.int64s([r - 1])], { keepdims: 1 }), phys: [...a.phys.slice(0, -1), 1] };
      ka = 1;
    }
    if (ka === 1) {
      // Rank-1 contraction: an elementwise product (times K if both were broadcast).
      let name = this.g.op("Mul", [a.name, b.name]);
      const phys = broadcastShapes(a.phys, b.phys);
      name = this.g.op("Squeeze", [name, this.g.int64s([r - 1])]);
      if (bothBroadcast) {
        name = this.g.op("Mul", [name, this.g.constant(a.dtype, [], [K])]);
      }
      return { name, shape: outShape, phys: phys.slice(0, -1), dtype: a.dtype };
    }
    const batch: number[] = [];
    const M: number[] = [];
    const N: number[] = [];
    const one: number[] = [];
    for (let i = 0; i < r - 1; i++) {
      const pa = a.phys[i]!;
      const pb = b.phys[i]!;
      if (pa > 1 && pb > 1) batch.push(i);
      else if (pa > 1) M.push(i);
      else if (pb > 1) N.push(i);
      else one.push(i);
    }
    const size = (axes: number[], v: Val) => numel(axes.map((i) => v.phys[i]!));
    const B = size(batch, a);
    const m = size(M, a);
    const n = size(N, b);
    const kdim = ka;
    const aT = this.g.transpose(a.name, [...batch, ...M, ...N, ...one, r - 1], a.phys);
    const bT = this.g.transpose(b.name, [...batch, ...N, ...M, ...one, r - 1], b.phys);
    const aPhysT = [...batch, ...M, ...N, ...one, r - 1].map((i) => a.phys[i]!);
    const bPhysT = [...batch, ...N, ...M, ...one, r - 1].map((i) => b.phys[i]!);
    let prod: string;
    if (batch.length === 0) {
      const a2 = this.g.reshape(aT, aPhysT, [m, kdim]);
      const b2 = this.g.reshape(bT, bPhysT, [n, kdim]);
      // ONNX Runtime has Gemm for floats only; integer dots use MatMul.
      prod = isFloat(a.dtype) ? this.gemm(a2, b2, m, n, kdim) : this.g.op("MatMul", [a2, this.g.transpose(b2, [1, 0])]);
    } else {
      const a3 = this.g.reshape(aT, aPhysT, [B, m, kdim]);
      const b3 = this.g.reshape(bT, bPhysT, [B, n, kdim]);
      const vb = this.transposedView(b3, [B, n, kdim]); // (B, k, n)
      const rhs = vb ?? this.g.transpose(b3, [0, 2, 1], [B, n, kdim]);
      prod = this.g.op("MatMul", [a3, rhs]);
    }
    // (B, m, n) -> [batch dims, M dims, N dims, trivial ones] -> original axis order
    const order = [...batch, ...M, ...N, ...one];
    const grouped = order.map((i) => (one.includes(i) ? 1 : batch.includes(i) || M.includes(i) ? a.phys[i]! : b.phys[i]!));
    const prodShape = batch.length === 0 ? [m, n] : [B, m, n];
    const r1 = this.g.reshape(prod, prodShape, grouped);
    const inv = order.map((_, i) => order.indexOf(i));
    const name = this.g.transpose(r1, inv, grouped);
    const phys = inv.map((j) => grouped[j]!);
    return { name, shape: outShape, phys, dtype: a.dtype };
  }

  /**
   * A linear layer's bias: add(dot(x, W), b) with b (…, n) over the last axis
   * becomes Gemm's C input, saving a pass over the output. Only when the dot
   * result has no other use.
   */
  private foldBias(eqn: JaxprEqn): Val | undefined {
    const [x, y] = eqn.inputs as [Atom, Atom];
    for (const [d, b] of [
      [x, y],
      [y, x],
    ] as [Atom, Atom][]) {
      if ("value" in d || "value" in b) continue;
      if (this.producers.get(d)?.primitive !== "dot" || this.uses.get(d) !== 1) continue;
      const dv = this.read(d);
      const bv = this.read(b);
      const n = dv.phys[dv.phys.length - 1]!;
      if (bv.dtype !== dv.dtype || bv.phys.length > dv.phys.length || bv.phys[bv.phys.length - 1] !== n || bv.phys.slice(0, -1).some((p) => p !== 1)) continue;
      if (bv.shape.some((s, i) => s !== 1 && i < bv.shape.length - 1)) continue;
      // dv must be Reshape(Gemm(a, w)) (or the Gemm itself) whose output is (m, n)
      let src = dv.name;
      const r = this.g.producerOf(src);
      if (r?.op === "Reshape") src = r.inputs[0]!;
      const gemm = this.g.producerOf(src);
      const gshape = this.g.shapeOf(src);
      if (gemm?.op !== "Gemm" || gemm.inputs.length !== 2 || !gshape || gshape[1] !== n) continue;
      const bias = this.g.reshape(bv.name, bv.phys, [n]);
      gemm.inputs.push(bias);
      return { ...dv, shape: broadcastShapes(dv.shape, bv.shape) };
    }
    return undefined;
  }

  /** C (m, n) = A · Bᵀ with A (m, k), B (n, k); a B that is itself a transpose is used in place (transB = 0). */
  private gemm(a: string, b: string, m: number, n: number, k: number): string {
    // B may be used transposed in place; A may not: ONNX Runtime's transposed-A
    // GEMM path measured 2–3× slower than an explicit Transpose and a plain GEMM.
    const bt = this.untransposed(b, [n, k]);
    const src = this.transposeSource(a, m, k);
    if (src) {
      // A = Yᵀ for a (k, m) matrix Y (the weight gradients' dyᵀ). ONNX Runtime's
      // GemmTransposeFusion would fold a Transpose feeding Gemm (or MatMul)
      // back into transA, even through Reshapes, and its transposed-A GEMM is
      // slow; a transpose that moves one axis of (k, m, 1) and a Reshape to
      // (m, k) is left alone, and its MatMul writes (m, n) directly.
      const y3 = this.g.op("Reshape", [src, this.g.int64s([k, m, 1])]);
      const t3 = this.g.op("Transpose", [y3], { perm: [1, 2, 0] });
      const a2 = this.g.op("Reshape", [t3, this.g.int64s([m, k])]);
      const rhs = bt ?? this.g.transpose(b, [1, 0], [n, k]);
      return this.g.op("MatMul", [a2, rhs]);
    }
    return this.g.op("Gemm", [a, bt ?? b], { transA: 0, transB: bt ? 0 : 1 });
  }

  /**
   * If `name` (m, k) is a 2-D transpose of a (k, m) matrix Y (possibly
   * reshaped around it), Y's name; a transpose that is only a view was folded
   * away already, so this is data that a Transpose node would move.
   */
  private transposeSource(name: string, m: number, k: number): string | undefined {
    let p = this.g.producerOf(name);
    if (p?.op === "Reshape") p = this.g.producerOf(p.inputs[0]!);
    if (p?.op !== "Transpose" || (p.attrs.perm as number[]).join() !== "1,0") return undefined;
    const y = p.inputs[0]!;
    const shape = this.g.shapeOf(y);
    return shape && shape.length === 2 && shape[0] === k && shape[1] === m ? y : undefined;
  }

  /** X with `name` = Xᵀ, when one exists without moving data (a Transpose [1,0] or a transposed view). */
  private untransposed(name: string, dims: [number, number]): string | undefined {
    const p = this.g.producerOf(name);
    if (p?.op === "Transpose" && (p.attrs.perm as number[]).join() === "1,0") return p.inputs[0]!;
    return this.transposedView(name, dims);
  }

  /**
   * If `name` (shape [B?, rows, cols]) is Reshape(Transpose(X)) and X is laid
   * out as [B…, cols…, rows…], return X reshaped to [B?, cols, rows]: the
   * matrix is then used transposed (Gemm's transA/transB, or a last-two-axes
   * Transpose that ONNX Runtime fuses into MatMul) instead of copying X. This
   * is the layout of every weight gradient (dW = dyᵀ·x over the N·T tokens)
   * and of attention's backward products.
   */
  private transposedView(name: string, dims: number[]): string | undefined {
    const r = this.g.producerOf(name);
    if (r?.op !== "Reshape") return undefined;
    const t = this.g.producerOf(r.inputs[0]!);
    if (t?.op !== "Transpose") return undefined;
    const X = t.inputs[0]!;
    const S = this.g.shapeOf(X);
    if (!S) return undefined;
    const perm = t.attrs.perm as number[];
    const groups: number[][] = [];
    let j = 0;
    for (const size of dims) {
      const g: number[] = [];
      let prod = 1;
      while (j < perm.length && prod < size) {
        prod *= S[perm[j]!]!;
        g.push(perm[j++]!);
      }
      if (prod !== size) return undefined;
      groups.push(g);
    }
    while (j < perm.length) {
      if (S[perm[j]!] !== 1) return undefined;
      groups[groups.length - 1]!.push(perm[j++]!);
    }
    const big = (g: number[]) => g.filter((i) => S[i]! > 1);
    const inc = (g: number[]) => g.every((v, i) => i === 0 || v > g[i - 1]!);
    const batch = dims.length === 3 ? big(groups[0]!) : [];
    const rows = big(groups[groups.length - 2]!);
    const cols = big(groups[groups.length - 1]!);
    // X must be ordered [batch…, cols…, rows…] for the view to be a plain reshape
    const order = [...batch, ...cols, ...rows];
    if (!inc(order)) return undefined;
    const view = dims.length === 3 ? [dims[0]!, dims[2]!, dims[1]!] : [dims[1]!, dims[0]!];
    return this.g.reshape(X, S, view);
  }
}

/**
 * Pair up the axes of a reshape: each group is a run of input axes and a run
 * of output axes with equal products (size-1 axes are groups of their own).
 */
export function reshapeGroups(from: number[], to: number[]): { ins: number[]; outs: number[] }[] {
  const groups: { ins: number[]; outs: number[] }[] = [];
  let i = 0;
  let j = 0;
  while (i < from.length || j < to.length) {
    if (i < from.length && from[i] === 1) {
      groups.push({ ins: [i++], outs: [] });
      continue;
    }
    if (j < to.length && to[j] === 1) {
      groups.push({ ins: [], outs: [j++] });
      continue;
    }
    if (i >= from.length || j >= to.length) throw new LoweringError(`invalid reshape [${from}] -> [${to}]`);
    const ins = [i];
    const outs = [j];
    let pi = from[i++]!;
    let pj = to[j++]!;
    while (pi !== pj) {
      if (pi < pj) {
        if (i >= from.length) throw new LoweringError(`invalid reshape [${from}] -> [${to}]`);
        ins.push(i);
        pi *= from[i++]!;
      } else {
        if (j >= to.length) throw new LoweringError(`invalid reshape [${from}] -> [${to}]`);
        outs.push(j);
        pj *= to[j++]!;
      }
    }
    groups.push({ ins, outs });
  }
  return groups;
}
