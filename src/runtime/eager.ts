/**
 * The jax-js eager path with the same calling convention as `compile`: host
 * tensors in, host tensors out. It is the reference that compiled results
 * are tested against, and a fallback for debugging a lowering.
 */
import { numpy as np, tree, type Array as JaxArray, type JsTree } from "@jax-js/jax";
import type { CompiledFunction, TensorTree } from "./compile.js";
import { initJax } from "./jax.js";
import { Tensor } from "./tensor.js";

function toJax(t: Tensor): JaxArray {
  if (t.dtype === "bool") return np.array(Int32Array.from(t.data as Uint8Array), { dtype: "int32" as never }).reshape(t.shape).astype("bool" as never);
  return np.array(t.data as Float32Array, { dtype: t.dtype as never }).reshape(t.shape);
}

function fromJax(a: JaxArray): Tensor {
  const shape = [...a.shape];
  return new Tensor(a.dataSync() as Float32Array, shape);
}

/** Wrap `fn` to run eagerly in jax-js on host tensors. */
export function eager(fn: (...args: never[]) => unknown): CompiledFunction {
  const call = async (...args: TensorTree[]): Promise<TensorTree> => {
    await initJax();
    const jargs = args.map((a) => tree.map(toJax as never, a as never));
    const out = (fn as (...a: unknown[]) => JsTree<JaxArray>)(...jargs);
    return tree.map(fromJax as never, out as never) as TensorTree;
  };
  const f = call as CompiledFunction;
  f.lower = () => Promise.reject(new Error("the eager path has no graph"));
  Object.defineProperty(f, "cacheSize", { get: () => 0 });
  f.dispose = async () => undefined;
  return f;
}
