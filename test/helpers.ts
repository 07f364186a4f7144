/** Shared test helpers: error metric, seeded inputs, jax-js eager bridges. */
import { numpy as np, type Array as JaxArray } from "@jax-js/jax";
import { initJax } from "../src/runtime/jax.js";
import { Tensor } from "../src/runtime/tensor.js";
import { Rng } from "../src/util/rng.js";

export { Rng };

/** The project's error metric: ‖got − want‖₂ / ‖want‖₂ (absolute ‖got‖₂ when want is zero). */
export function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`length mismatch: got ${got.length}, want ${want.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Number(got[i]) - Number(want[i]);
    num += d * d;
    den += Number(want[i]) * Number(want[i]);
  }
  if (!Number.isFinite(num)) return Infinity;
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

export async function setupJax(): Promise<void> {
  await initJax();
}

/** A jax-js array holding a host tensor's data (eager reference path). */
export function toJax(t: Tensor): JaxArray {
  const dtype = t.dtype === "bool" ? "bool" : t.dtype;
  return np.array(t.data as Float32Array, { dtype: dtype as never }).reshape(t.shape);
}

/** Host tensor of a jax-js array (consumes it). */
export function fromJax(a: JaxArray): Tensor {
  const shape = [...a.shape];
  return new Tensor(a.dataSync() as Float32Array, shape);
}

export function randn(rng: Rng, shape: number[], scale = 1): Tensor {
  return new Tensor(rng.normals(shape.reduce((a, b) => a * b, 1), scale), shape);
}
