/**
 * Shared machinery of the lowering tests: run a jax-js function compiled to
 * ONNX and eagerly in jax-js, build value-and-gradient functions, compare.
 */
import assert from "node:assert/strict";
import { grad, numpy as np, tree, type Array as JaxArray } from "@jax-js/jax";
import { compile, type TensorTree } from "../../src/runtime/compile.js";
import type { Graph } from "../../src/runtime/onnx-graph.js";
import { Tensor, type TensorSpec } from "../../src/runtime/tensor.js";
import { fromJax, randn, relErr, Rng, toJax } from "../helpers.js";
import { f64, type Ref, type WithGrads } from "./ref64.js";

export type J = JaxArray;
export type Fn = (...xs: J[]) => J;
export type AnyFn = (...args: any[]) => any;

/** A seed of its own for every test case: FNV-1a of the case name. */
export function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function rngFor(name: string): Rng {
  return new Rng(seedOf(name));
}

/**
 * `(xs, w) => [f(...xs), ∂/∂xs Σ f(xs)·w]` as one jax-js function: the value
 * and the gradient w.r.t. every input for a random cotangent `w`.
 */
export function valueAndGrads(f: Fn): (xs: J[], w: J) => J[] {
  return (xs, w) => {
    const value = f(...xs.map((x) => x.ref));
    const loss = (ps: J[], ww: J) => np.sum(f(...ps).mul(ww));
    const grads = grad(loss)(xs, w) as unknown as J[];
    return [value, ...grads];
  };
}

/** Run `fn` compiled to ONNX (one fresh session) on host tensors; the output tree. */
export async function runCompiledTree(fn: AnyFn, ...args: TensorTree[]): Promise<TensorTree> {
  const f = compile(fn, undefined, { threads: 1 });
  try {
    return await f(...args);
  } finally {
    await f.dispose();
  }
}

/** Run `fn` compiled to ONNX (one fresh session) on host tensors; flat outputs. */
export async function runCompiled(fn: AnyFn, ...args: TensorTree[]): Promise<Tensor[]> {
  return tree.leaves(await runCompiledTree(fn, ...args)) as Tensor[];
}

/**
 * `toJax`, except for bool tensors: jax-js 0.1.25 cannot take a Uint8Array on
 * Node 20 (it tests for `Float16Array`), so those go through int32.
 */
function toJaxArray(t: Tensor): J {
  if (t.dtype !== "bool") return toJax(t);
  return np.array(Int32Array.from(t.data), { dtype: np.int32 }).reshape(t.shape).astype(np.bool);
}

/** Run `fn` eagerly in jax-js on host tensors (the reference path); flat outputs. */
export function runEager(fn: AnyFn, ...args: TensorTree[]): Tensor[] {
  const jargs = args.map((a) => {
    const [leaves, def] = tree.flatten(a);
    return tree.unflatten(def, (leaves as Tensor[]).map(toJaxArray));
  });
  return (tree.leaves(fn(...jargs)) as J[]).map(fromJax);
}

/** The ONNX graph `fn` lowers to for these specs. */
export async function lowerGraph(fn: AnyFn, ...specs: (TensorSpec | TensorSpec[] | Record<string, TensorSpec>)[]): Promise<Graph> {
  const f = compile(fn, undefined, { threads: 1 });
  try {
    return await f.lower(...specs);
  } finally {
    await f.dispose();
  }
}

export function ops(g: Graph): string[] {
  return g.nodes.map((n) => n.op);
}

/** Per-tensor relErr ≤ tol, with shapes equal; labels name the output. */
export function assertClose(
  got: Tensor[],
  want: { data: ArrayLike<number>; shape: readonly number[] }[],
  tol: number,
  label: string,
): void {
  assert.equal(got.length, want.length, `${label}: ${got.length} outputs, want ${want.length}`);
  got.forEach((g, i) => {
    const name = `${label} [output ${i === 0 ? "0 (value)" : i}]`;
    assert.deepEqual([...g.shape], [...want[i]!.shape], `${name}: shape`);
    const err = relErr(g.data as ArrayLike<number>, want[i]!.data);
    assert.ok(err <= tol, `${name}: relErr ${err.toExponential(3)} > ${tol}`);
  });
}

/**
 * Value (and, if `differentiable`, gradients of Σ f(xs)·w for every input)
 * of the compiled `f` against a float64 reference `ref(xs, w)`.
 */
export async function checkVsF64(
  name: string,
  f: Fn,
  xs: Tensor[],
  ref: (xs: Ref[], w?: Ref) => WithGrads,
  opts: { differentiable?: boolean; tol?: number } = {},
): Promise<void> {
  const rng = rngFor(`${name}/w`);
  const tol = opts.tol ?? 1e-5;
  const x64 = xs.map(f64);
  if (opts.differentiable === false) {
    assertClose(await runCompiled(f, ...xs), [ref(x64).value], tol, name);
    return;
  }
  const w32 = randn(rng, ref(x64).value.shape);
  // the cotangent takes the inputs' float type
  const w = xs[0]?.dtype === "float64" ? asFloat64(w32) : w32;
  const want = ref(x64, f64(w));
  assertClose(await runCompiled(valueAndGrads(f), xs, w), [want.value, ...want.grads], tol, name);
}

/**
 * Value (and gradients of Σ f(xs)·w, if `differentiable`) of the compiled `f`
 * against the same function run eagerly in jax-js.
 */
export async function checkVsEager(
  name: string,
  f: AnyFn,
  xs: Tensor[],
  opts: { differentiable?: boolean; tol?: number } = {},
): Promise<Tensor[]> {
  const tol = opts.tol ?? 1e-4;
  if (opts.differentiable === false) {
    const want = runEager(f, ...xs);
    const got = await runCompiled(f, ...xs);
    assertClose(got, want, tol, name);
    return got;
  }
  const shape = runEager(f, ...xs)[0]!.shape;
  const w = randn(rngFor(`${name}/w`), shape);
  const want = runEager(valueAndGrads(f), xs, w);
  const got = await runCompiled(valueAndGrads(f), xs, w);
  assertClose(got, want, tol, name);
  return got;
}

/** The same values as a float64 tensor. */
export function asFloat64(t: Tensor): Tensor {
  return new Tensor(Float64Array.from(t.data), [...t.shape]);
}

/** Float32 tensor of the given values. */
export function tensor(values: ArrayLike<number>, shape: number[]): Tensor {
  return new Tensor(Float32Array.from(values), shape);
}

export { randn };
