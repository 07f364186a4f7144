/**
 * The page's sampler: onnxruntime-web sessions of the exported DiT and VAE
 * decoder, driven by the project's own sampler loop (src/sample/loop.ts, the
 * one Node's `sample()` runs), so a seed gives the same image in Node and here.
 *
 * Graphs have their batch baked in (`dit export --batch-size`), so a DiT call
 * of R rows (2 × images with guidance: [cond; null]) runs in chunks of the
 * exported batch sizes, the last chunk padded by repeating its last row. DiT
 * rows are independent, so chunking changes nothing but rounding.
 */
import type * as Ort from "onnxruntime-web";
import type { DiTConfig } from "../../src/model/config.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { SampleError } from "../../src/sample/errors.js";
import { sampleLatentBatch, samplerDiffusion, type DiTForward } from "../../src/sample/loop.js";
import { toUint8Hwc } from "../../src/sample/pixels.js";
import { checkDiTGraph, fetchCached, ModelError, type DiTGraphInfo, type Manifest } from "./models.js";

import type { Backend, SampleOptions } from "./hook.js";

export type { Backend, SampleOptions } from "./hook.js";

export interface SampleOutput {
  /** Final latents of the conditional half, (N, C, h, w). */
  latents: Float32Array;
  latentShape: number[];
  /** uint8 (N, H, W, C), as drawn (Node's toUint8Hwc). */
  pixels: Uint8Array;
  imageShape: number[];
  /** Mean wall time of a sampler step (DiT evaluation + update), previews excluded. */
  msPerStep: number;
  /** Each step's wall time (the first includes the backend's warm-up: shader compilation, first allocations). */
  stepMs: number[];
  backend: Backend;
}

export interface SampleHooks {
  /** After each step: steps done, total, ms of that step. */
  onStep?: (step: number, total: number, ms: number) => void;
  /** Every `previewEvery` steps: the decoded x̂₀ of the images, uint8 (N, H, W, C). */
  onPreview?: (pixels: Uint8Array, step: number) => void;
  previewEvery?: number;
  signal?: AbortSignal;
}

/** The most images one sample runs (Node samples up to 16 per batch by default, so one batch here matches it). */
export const MAX_IMAGES = 16;

/** Which backend: `?backend=` forces one; else WebGPU when an adapter comes up, else Wasm. */
export async function chooseBackend(forced: string | null): Promise<Backend> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  const adapter = async () => (gpu ? await gpu.requestAdapter().catch(() => null) : null);
  if (forced === "wasm") return "wasm";
  if (forced === "webgpu") {
    if (!(await adapter())) throw new ModelError("?backend=webgpu: this browser gives no WebGPU adapter (navigator.gpu.requestAdapter() returned null)");
    return "webgpu";
  }
  if (forced !== null && forced !== "") throw new ModelError(`?backend=${forced}: expected wasm or webgpu`);
  return (await adapter()) ? "webgpu" : "wasm";
}

/** onnxruntime-web, loaded by `configureOrt` (its own chunk: the page's code and ONNX Runtime's are sized apart). */
let ort: typeof Ort;

/** Load onnxruntime-web and set up its Wasm side: threads when cross-origin isolated (SharedArrayBuffer), else one. */
export async function configureOrt(forced: string | null): Promise<number> {
  ort = await import("onnxruntime-web");
  let threads = globalThis.crossOriginIsolated ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;
  if (forced) {
    const n = Number(forced);
    if (!Number.isInteger(n) || n < 1) throw new ModelError(`?threads=${forced}: expected a positive integer`);
    if (n > 1 && !globalThis.crossOriginIsolated) throw new ModelError(`?threads=${n}: Wasm threads need a cross-origin isolated page (COOP/COEP headers; serve it with npm run web)`);
    threads = n;
  }
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = new URL("ort/", document.baseURI).href; // the glue and .wasm web/build.ts copies there
  return threads;
}

async function createSession(bytes: Uint8Array, backend: Backend): Promise<Ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { executionProviders: [backend], graphOptimizationLevel: "all" });
}

/** A graph with a fixed batch, run over any number of rows in chunks. */
class ChunkedSession {
  constructor(
    readonly session: Ort.InferenceSession,
    readonly batch: number,
  ) {}

  /** Run the graph once on zeros (at load: the backend's first-run work — kernel selection, WebGPU shader compilation — is not charged to the first sample). */
  async warmUp(): Promise<void> {
    const feeds: Record<string, Ort.Tensor> = {};
    for (const m of this.session.inputMetadata) {
      if (!m.isTensor) continue;
      const dims = m.shape.map((d) => (typeof d === "number" ? d : 1));
      const n = dims.reduce((a, d) => a * d, 1);
      feeds[m.name] = m.type === "int32" ? new ort.Tensor("int32", new Int32Array(n), dims) : new ort.Tensor("float32", new Float32Array(n), dims);
    }
    const res = await this.session.run(feeds);
    for (const t of Object.values(res)) t.dispose();
  }

  /** Run rows [r0, r0 + k) of `inputs` (k ≤ batch), padding to the batch with copies of the last row; returns the first k rows of `output`. */
  async runRows(inputs: { name: string; data: Float32Array | Int32Array; rowShape: number[] }[], output: string, r0: number, k: number): Promise<Float32Array> {
    const b = this.batch;
    const feeds: Record<string, Ort.Tensor> = {};
    for (const inp of inputs) {
      const per = inp.rowShape.reduce((a, d) => a * d, 1);
      const buf = new (inp.data.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(b * per);
      buf.set(inp.data.subarray(r0 * per, (r0 + k) * per));
      for (let r = k; r < b; r++) buf.copyWithin(r * per, (k - 1) * per, k * per);
      feeds[inp.name] = new ort.Tensor(buf instanceof Float32Array ? "float32" : "int32", buf, [b, ...inp.rowShape]);
    }
    const res = await this.session.run(feeds);
    const out = res[output]!;
    const data = (await out.getData()) as Float32Array;
    const per = data.length / b;
    const rows = data.slice(0, k * per);
    for (const t of Object.values(res)) t.dispose();
    return rows;
  }
}

/** Run R rows through sessions of several batch sizes: the largest that fits each time, the smallest padded at the end. */
async function runAllRows(sessions: ChunkedSession[], inputs: Parameters<ChunkedSession["runRows"]>[0], output: string, R: number): Promise<Float32Array[]> {
  const sorted = [...sessions].sort((a, b) => b.batch - a.batch);
  const parts: Float32Array[] = [];
  for (let r = 0; r < R; ) {
    const left = R - r;
    const s = sorted.find((x) => x.batch <= left) ?? sorted[sorted.length - 1]!;
    const k = Math.min(s.batch, left);
    parts.push(await s.runRows(inputs, output, r, k));
    r += k;
  }
  return parts;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The loaded DiT: its sessions and the config the sampler loop needs. */
export interface LoadedDiT {
  config: DiTConfig;
  sessions: ChunkedSession[];
  info: DiTGraphInfo;
  /** Where it came from, for the page. */
  label: string;
}

/** Create a session for a DiT graph and check it against the VAE (ModelError on a mismatch). */
export async function loadDiTGraph(bytes: Uint8Array, backend: Backend, manifest: Manifest): Promise<{ session: ChunkedSession; info: DiTGraphInfo }> {
  let session: Ort.InferenceSession;
  try {
    session = await createSession(bytes, backend);
  } catch (e) {
    throw new ModelError(`not a graph ONNX Runtime can load on ${backend}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const meta = (ms: readonly Ort.InferenceSession.ValueMetadata[]) => ms.map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.isTensor ? m.type : undefined, shape: m.isTensor ? m.shape : undefined }));
  try {
    const info = checkDiTGraph(meta(session.inputMetadata), meta(session.outputMetadata), manifest.vae);
    return { session: new ChunkedSession(session, info.batch), info };
  } catch (e) {
    await session.release();
    throw e;
  }
}

/** The bundled DiT (every exported batch size). */
export async function loadBundledDiT(base: string, manifest: Manifest, backend: Backend, onBytes?: (file: string, loaded: number, total: number) => void): Promise<LoadedDiT> {
  const sessions: ChunkedSession[] = [];
  let info: DiTGraphInfo | undefined;
  for (const g of manifest.dit.graphs) {
    const bytes = await fetchCached(new URL(`models/${g.file}?v=${g.sha256.slice(0, 16)}`, base).href, (l, t) => onBytes?.(g.file, l, t || g.bytes));
    const r = await loadDiTGraph(bytes, backend, manifest);
    await r.session.warmUp();
    sessions.push(r.session);
    info = r.info;
  }
  if (!info) throw new ModelError("the manifest lists no DiT graph");
  return { config: manifest.dit.config, sessions, info, label: `bundled Fashion-MNIST DiT (batch ${manifest.dit.graphs.map((g) => g.batch).join(", ")})` };
}

/** A user's `dit export` graph: the bundled config with its geometry; the class list is the page's. */
export async function loadUserDiT(bytes: Uint8Array, label: string, manifest: Manifest, backend: Backend): Promise<LoadedDiT> {
  let loaded;
  try {
    loaded = await loadDiTGraph(bytes, backend, manifest);
  } catch (e) {
    // name the user's file: the page may show this long after they picked it
    if (e instanceof ModelError) throw new ModelError(`${label}: ${e.message}`);
    throw e;
  }
  const { session, info } = loaded;
  await session.warmUp();
  const base = manifest.dit.config;
  const config: DiTConfig = { ...base, inChannels: info.inChannels, inputSize: info.inputSize, learnSigma: true, numClasses: info.conditional ? base.numClasses : 1 };
  return { config, sessions: [session], info, label: `${label} (batch ${info.batch})` };
}

/** The VAE decoder session. */
export async function loadVae(base: string, manifest: Manifest, backend: Backend, onBytes?: (file: string, loaded: number, total: number) => void): Promise<ChunkedSession> {
  const g = manifest.vae.graph;
  const bytes = await fetchCached(new URL(`models/${g.file}?v=${g.sha256.slice(0, 16)}`, base).href, (l, t) => onBytes?.(g.file, l, t || g.bytes));
  const session = new ChunkedSession(await createSession(bytes, backend), g.batch);
  await session.warmUp();
  return session;
}

/** The DiT as the sampler loop calls it: x (R, C, S, S), t (R) int32 model timesteps, y (R) int32. */
export function ditForward(dit: LoadedDiT): DiTForward {
  const { inChannels: C, inputSize: S, outChannels: Co, conditional } = dit.info;
  return async (x: Tensor, t: Tensor, y: Tensor) => {
    const R = x.shape[0]!;
    const inputs = [
      { name: "x", data: x.data as Float32Array, rowShape: [C, S, S] },
      { name: "t", data: Float32Array.from(t.data as Int32Array), rowShape: [] },
      ...(conditional ? [{ name: "y", data: y.data as Int32Array, rowShape: [] }] : []),
    ];
    return new Tensor(concat(await runAllRows(dit.sessions, inputs, "out", R)), [R, Co, S, S]);
  };
}

/** DiT latents (N, C, h, w) → uint8 (N, H, W, C), as Node: decode(z / scaling_factor), then toUint8Hwc. */
export async function decodeToPixels(vae: ChunkedSession, manifest: Manifest, latents: Float32Array, N: number): Promise<Uint8Array> {
  const v = manifest.vae;
  const s = v.scalingFactor;
  const z = latents.map((x) => x / s); // float32, as Node's zs.map((v) => v / s)
  const [H, W, C] = v.image;
  const out = concat(await runAllRows([vae], [{ name: "z", data: z, rowShape: [v.latentChannels, v.latentSize, v.latentSize] }], "image", N));
  return toUint8Hwc(out, [N, C, H, W]);
}

/** Let the browser paint and handle input (a macrotask boundary, without setTimeout's 4 ms clamp). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(null);
  });
}

/** Check the hook's options as Node's planSample would (SampleError naming what is wrong). */
export function checkOptions(o: SampleOptions, dit: LoadedDiT): void {
  const c = dit.config;
  if (!o || typeof o !== "object") throw new SampleError("sample(opts): expected { classId, cfgScale, sampler, steps, seed, numImages }");
  if (o.sampler !== "ddim" && o.sampler !== "dpm++") throw new SampleError(`sampler must be ddim or dpm++, got '${String(o.sampler)}'`);
  if (!Number.isInteger(o.seed)) throw new SampleError(`seed must be an integer, got ${o.seed}`);
  if (!Number.isInteger(o.numImages) || o.numImages < 1 || o.numImages > MAX_IMAGES) throw new SampleError(`numImages must be an integer in 1..${MAX_IMAGES}, got ${o.numImages}`);
  if (!Number.isFinite(o.cfgScale) || o.cfgScale < 1) throw new SampleError(`cfg scale must be ≥ 1 (1 = no guidance), got ${o.cfgScale}`);
  if (o.cfgScale > 1 && !dit.info.conditional) throw new SampleError(`cfg scale ${o.cfgScale} needs classifier-free guidance, but this model has no classes; use 1`);
  if (dit.info.conditional && (!Number.isInteger(o.classId) || o.classId < 0 || o.classId >= c.numClasses)) throw new SampleError(`class ${o.classId} is out of range: the model has ${c.numClasses} classes (0..${c.numClasses - 1})`);
}

/**
 * Sample as Node's sample({ classes: [classId], numSamples: numImages, seed,
 * sampler, numSamplingSteps: steps, cfgScale }): image i is labelled classId
 * and drawn from the noise stream (seed, i).
 */
export async function sampleImages(dit: LoadedDiT, vae: ChunkedSession, manifest: Manifest, backend: Backend, o: SampleOptions, hooks: SampleHooks = {}): Promise<SampleOutput> {
  checkOptions(o, dit);
  const diffusion = samplerDiffusion(o.sampler, o.steps);
  const c = dit.config;
  const N = o.numImages;
  const labels = new Int32Array(N).fill(dit.info.conditional ? o.classId : 0);
  const indices = Array.from({ length: N }, (_, i) => i);
  const forward = ditForward(dit);
  const stepMs: number[] = [];
  let last = performance.now();
  const every = hooks.previewEvery ?? 0;
  const latents = await sampleLatentBatch(forward, { config: c, sampler: o.sampler, diffusion, seed: o.seed, cfgScale: o.cfgScale, cfgMode: "official", indices, labels }, {
    signal: hooks.signal,
    onStep: async (s) => {
      const ms = performance.now() - last;
      stepMs.push(ms);
      hooks.onStep?.(s.step, s.total, ms);
      if (every > 0 && hooks.onPreview && s.step % every === 0 && s.step < s.total) hooks.onPreview(await decodeToPixels(vae, manifest, s.predXstart, N), s.step);
      await yieldToEventLoop(); // Wasm runs resolve as microtasks: without a task boundary the tab would not paint or take a click until the end
      last = performance.now(); // the preview's decode is not part of the step
    },
  });
  hooks.signal?.throwIfAborted();
  const pixels = await decodeToPixels(vae, manifest, latents, N);
  const [H, W, C] = manifest.vae.image;
  return { latents, latentShape: [N, c.inChannels, c.inputSize, c.inputSize], pixels, imageShape: [N, H, W, C], msPerStep: stepMs.reduce((a, b) => a + b, 0) / stepMs.length, stepMs, backend };
}
