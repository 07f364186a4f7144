/**
 * One place that initialises jax-js for Node.
 *
 * In Node, `init("wasm")` must be explicit (a bare `init()` touches
 * `navigator`), and the Wasm backend is made the default device.
 */
import { defaultDevice, init } from "@jax-js/jax";

let ready: Promise<void> | undefined;

export function initJax(): Promise<void> {
  ready ??= (async () => {
    const got = await init("wasm");
    if (!got.includes("wasm")) throw new Error("jax-js: the wasm backend could not be initialised");
    defaultDevice("wasm");
  })();
  return ready;
}
