/**
 * The ONNX Runtime module the compiler runs on, taken as a dependency:
 * onnxruntime-node in Node (loaded lazily, the default), onnxruntime-web in a
 * browser (`setOrt(await import("onnxruntime-web"))` before the first run).
 * Nothing here imports onnxruntime-node or a `node:` module at top level, so
 * a bundler can build the runtime for the browser.
 */
import type * as OrtCommon from "onnxruntime-common";

/** What the runtime uses of an ONNX Runtime module (onnxruntime-node and onnxruntime-web both provide it). */
export interface OrtModule {
  InferenceSession: typeof OrtCommon.InferenceSession;
  Tensor: typeof OrtCommon.Tensor;
}

/** The runtime's ONNX Runtime and the platform's defaults. */
export interface OrtRuntime {
  ort: OrtModule;
  /** Default intra-op threads (every logical core). */
  threads: number;
}

let chosen: Promise<OrtRuntime> | undefined;

/** Use this ONNX Runtime module (e.g. onnxruntime-web) for every session created from now on. */
export function setOrt(module: OrtModule, opts: { threads?: number } = {}): void {
  chosen = Promise.resolve({ ort: module, threads: opts.threads ?? hardwareConcurrency() ?? 1 });
}

/** The ONNX Runtime in use: the one given to `setOrt`, else onnxruntime-node (Node only). */
export function getOrt(): Promise<OrtRuntime> {
  if (!chosen) {
    const loading = loadNodeOrt();
    loading.catch(() => {
      if (chosen === loading) chosen = undefined; // let a later call retry, or setOrt decide
    });
    chosen = loading;
  }
  return chosen;
}

// Module names in variables: bundlers leave these imports alone (they only happen in Node).
const NODE_ORT = "onnxruntime-node";
const NODE_OS = "node:os";

async function loadNodeOrt(): Promise<OrtRuntime> {
  if (!isNode()) throw new Error("no ONNX Runtime: outside Node, call setOrt(await import(\"onnxruntime-web\")) before running compiled functions");
  const [ort, os] = await Promise.all([import(/* @vite-ignore */ NODE_ORT) as Promise<OrtModule>, import(/* @vite-ignore */ NODE_OS) as Promise<{ availableParallelism(): number }>]);
  return { ort, threads: os.availableParallelism() };
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === "string";
}

function hardwareConcurrency(): number | undefined {
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
}

/** An environment variable where there is one (Node), else undefined. */
export function envVar(name: string): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
}
