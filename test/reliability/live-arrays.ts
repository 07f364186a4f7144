/**
 * The number of live jax-js arrays' device buffers, for leak tests.
 *
 * @jax-js/jax 0.1.25 has no public live-array counter: `Array.refCount` is
 * per array, and the backends keep their buffers in private maps. Every
 * array that holds data owns a backend slot (`malloc` → 1 reference,
 * `incRef` / `decRef`; the slot is freed when its count reaches 0), and only
 * `malloc` creates slots. So this module wraps `malloc` / `incRef` / `decRef`
 * of the initialised backend instance (`getBackend`, found by name in the
 * package's backend chunk, the same module instance the package uses) and
 * mirrors the reference counts: `liveSlots()` is the number of buffers not
 * yet freed. An array that is never disposed keeps its slot, so a
 * reference-count leak makes the count grow with every repetition. (Lazy
 * constants that hold no buffer are not counted; they hold no memory either.)
 */
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { initJax } from "../../src/runtime/jax.js";

interface Backend {
  malloc(size: number, init?: Uint8Array): number;
  incRef(slot: number): void;
  decRef(slot: number): void;
}

const refs = new Map<number, number>();
let installed = false;

/** Start counting (idempotent); arrays created before are not seen. */
export async function trackLiveArrays(): Promise<void> {
  if (installed) return;
  await initJax();
  const dist = dirname(createRequire(import.meta.url).resolve("@jax-js/jax"));
  const chunk = readdirSync(dist).find((f) => /^backend-.*\.js$/.test(f));
  if (!chunk) throw new Error(`${dist}: no backend chunk (has @jax-js/jax changed from 0.1.25?)`);
  const mod = (await import(pathToFileURL(join(dist, chunk)).href)) as Record<string, unknown>;
  const getBackend = Object.values(mod).find((f): f is (d?: string) => Backend => typeof f === "function" && f.name === "getBackend");
  if (!getBackend) throw new Error(`${chunk}: no getBackend export (has @jax-js/jax changed from 0.1.25?)`);
  const b = getBackend("wasm");
  const orig = { malloc: b.malloc.bind(b), incRef: b.incRef.bind(b), decRef: b.decRef.bind(b) };
  b.malloc = (size, init) => {
    const slot = orig.malloc(size, init);
    refs.set(slot, 1);
    return slot;
  };
  b.incRef = (slot) => {
    orig.incRef(slot);
    if (refs.has(slot)) refs.set(slot, refs.get(slot)! + 1);
  };
  b.decRef = (slot) => {
    orig.decRef(slot);
    const n = refs.get(slot);
    if (n === undefined) return;
    if (n <= 1) refs.delete(slot);
    else refs.set(slot, n - 1);
  };
  installed = true;
}

/** Backend buffers allocated since `trackLiveArrays()` and not yet freed. */
export function liveSlots(): number {
  return refs.size;
}
