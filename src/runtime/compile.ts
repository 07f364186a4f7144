/**
 * `compile(fn)`: trace a jax-js function with `makeJaxpr`, lower the jaxpr to
 * ONNX, and run it with ONNX Runtime (onnxruntime-node unless `setOrt` says
 * otherwise). Sessions are cached per input shapes and dtypes.
 */
import { makeJaxpr, tree, type ClosedJaxpr, type JsTree, type JsTreeDef } from "@jax-js/jax";
import { initJax } from "./jax.js";
import { Lowerer } from "./lower.js";
import type { Graph } from "./onnx-graph.js";
import { Session, type SessionOptions } from "./session.js";
import { Tensor, TensorSpec } from "./tensor.js";

/** A tree of host tensors, as inputs and outputs of compiled functions. */
export type TensorTree = JsTree<Tensor>;
/** A tree of tensor specs, mirroring the function's arguments. */
export type SpecTree = JsTree<TensorSpec>;

interface Compiled {
  graph: Graph;
  session: Promise<Session>;
  outTree: ReturnType<typeof tree.flatten>[1];
}

/** A compiled function; call it with host tensors (same tree structure as `fn`'s arguments). */
export interface CompiledFunction {
  (...args: TensorTree[]): Promise<TensorTree>;
  /** The lowered ONNX graph for these argument specs (traced on first use). */
  lower(...specs: SpecTree[]): Promise<Graph>;
  /** Number of distinct input signatures compiled so far. */
  readonly cacheSize: number;
  /** Release every cached session. */
  dispose(): Promise<void>;
}

function signature(specs: TensorSpec[]): string {
  return specs.map((s) => s.toString()).join(";");
}

/** Trace and lower `fn` for the given argument specs (no session). */
export async function lowerFunction(
  fn: (...args: never[]) => unknown,
  specs: SpecTree[],
  names: { inputs?: string[]; outputs?: string[] } = {},
): Promise<{ graph: Graph; outTree: Compiled["outTree"] }> {
  await initJax();
  const [flatSpecs] = tree.flatten(specs as JsTree<TensorSpec>);
  for (const s of flatSpecs) {
    if (!(s instanceof TensorSpec)) throw new TypeError(`compile: every leaf of the input specs must be a TensorSpec, got ${String(s)}`);
  }
  const traced = (makeJaxpr as (f: unknown) => (...a: unknown[]) => { jaxpr: ClosedJaxpr; treedef: JsTreeDef })(fn)(...specs);
  try {
    const low = new Lowerer();
    const inputs = flatSpecs.map((s, i) => ({ name: names.inputs?.[i] ?? `in_${i}`, dtype: s.dtype, shape: [...s.shape] }));
    const nOut = traced.jaxpr.jaxpr.outs.length;
    low.lowerClosed(traced.jaxpr, inputs, Array.from({ length: nOut }, (_, i) => names.outputs?.[i] ?? `out_${i}`));
    return { graph: low.g, outTree: traced.treedef };
  } finally {
    traced.jaxpr.dispose();
  }
}

/**
 * Compile a jax-js function to ONNX Runtime.
 *
 * `fn` takes and returns pytrees of jax-js arrays (a plain function or e.g.
 * `valueAndGrad(loss)`). If `inputSpecs` is given, that signature is traced
 * and its session created eagerly (await `lower` to wait for it).
 */
export function compile(
  fn: (...args: never[]) => unknown,
  inputSpecs?: SpecTree[],
  opts: SessionOptions = {},
): CompiledFunction {
  const cache = new Map<string, Promise<Compiled>>();

  const get = (specs: SpecTree[]): Promise<Compiled> => {
    const [flat] = tree.flatten(specs as JsTree<TensorSpec>);
    const key = signature(flat);
    let hit = cache.get(key);
    if (!hit) {
      hit = lowerFunction(fn, specs).then(({ graph, outTree }) => ({
        graph,
        outTree,
        session: Session.create(graph.encode(), opts),
      }));
      cache.set(key, hit);
      hit.catch(() => cache.delete(key));
    }
    return hit;
  };

  const call = async (...args: TensorTree[]): Promise<TensorTree> => {
    const [flatArgs, inTree] = tree.flatten(args as JsTree<Tensor>);
    flatArgs.forEach((a, i) => {
      if (!(a instanceof Tensor)) throw new TypeError(`compiled function: argument leaf ${i} is not a Tensor`);
    });
    const specs = tree.unflatten(inTree, flatArgs.map((t) => t.spec)) as SpecTree[];
    const compiled = await get(specs);
    const session = await compiled.session;
    const outs = await session.run(flatArgs);
    return tree.unflatten(compiled.outTree, outs) as TensorTree;
  };

  const f = call as CompiledFunction;
  f.lower = async (...specs: SpecTree[]) => (await get(specs)).graph;
  Object.defineProperty(f, "cacheSize", { get: () => cache.size });
  f.dispose = async () => {
    const all = [...cache.values()];
    cache.clear();
    for (const c of all) await (await (await c).session).release();
  };
  if (inputSpecs) void get(inputSpecs).then((c) => c.session).catch(() => undefined);
  return f;
}
