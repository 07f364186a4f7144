/**
 * The page: controls, progress, the forming image, loading another model,
 * and the test hook.
 *
 * Test hook (the contract with test/web and `npm run bench:web`):
 *
 *   window.dit = {
 *     ready: Promise<{ backend: "webgpu" | "wasm" }>,   // models loaded; rejects with the reason (e.g. ?backend=webgpu without an adapter)
 *     sample(opts: { classId, cfgScale, sampler: "ddim" | "dpm++", steps, seed, numImages }): Promise<{
 *       latents: number[],      // final latents of the conditional half, (N, C, h, w) row-major
 *       latentShape: number[],  // [N, C, h, w]
 *       pixels: number[],       // uint8 (N, H, W, C) as drawn (Node's toUint8Hwc)
 *       imageShape: number[],   // [N, H, W, C]
 *       msPerStep: number,      // mean over the steps (previews excluded)
 *       stepMs: number[],       // each step (an extra: the first includes warm-up)
 *       backend: string,
 *     }>,
 *   }
 *
 * Same seeds and labels as Node's sample({ classes: [classId], numSamples:
 * numImages, seed, sampler, numSamplingSteps: steps, cfgScale }).
 *
 * Canvas layout: the final images are drawn into <canvas id="result"> at 1:1
 * scale, image i at x = i·W, y = 0 (one row; canvas size N·W × H). Grayscale
 * images (C = 1) are drawn as R = G = B = the value, alpha 255; RGB as is. CSS
 * enlarges the canvas on screen (pixelated), getImageData reads the 1:1 pixels.
 * `?backend=wasm|webgpu` forces a backend, `?threads=N` the Wasm thread count.
 */
import { SampleError } from "../../src/sample/errors.js";
import {
  chooseBackend,
  configureOrt,
  loadBundledDiT,
  loadUserDiT,
  loadVae,
  MAX_IMAGES,
  sampleImages,
  type Backend,
  type LoadedDiT,
  type SampleOptions,
  type SampleOutput,
} from "./engine.js";
import type { DitHook, HookSampleResult } from "./hook.js";
import { fetchCached, loadManifest, ModelError, type Manifest } from "./models.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

interface State {
  backend: Backend;
  manifest: Manifest;
  classes: string[];
  dit: LoadedDiT;
  bundled: LoadedDiT;
  vae: Awaited<ReturnType<typeof loadVae>>;
}

let state: State | undefined;
let running: AbortController | undefined;
let queue: Promise<unknown> = Promise.resolve();

function showError(e: unknown): void {
  const el = $("error");
  el.textContent = e instanceof Error ? e.message : String(e);
  el.hidden = false;
}

function clearError(): void {
  $("error").hidden = true;
}

function setStatus(text: string): void {
  $("status").textContent = text;
}

/** Draw uint8 (N, H, W, C) images into the result canvas: one row, 1:1. */
function draw(pixels: Uint8Array, N: number, H: number, W: number, C: number): void {
  const canvas = $<HTMLCanvasElement>("result");
  if (canvas.width !== N * W || canvas.height !== H) {
    canvas.width = N * W;
    canvas.height = H;
  }
  canvas.style.width = `${N * W * 4}px`; // 4× on screen, pixelated; the backing store stays 1:1
  const ctx = canvas.getContext("2d")!;
  const img = ctx.createImageData(N * W, H);
  for (let n = 0; n < N; n++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const src = ((n * H + y) * W + x) * C;
        const dst = (y * N * W + n * W + x) * 4;
        img.data[dst] = pixels[src]!;
        img.data[dst + 1] = pixels[src + (C === 3 ? 1 : 0)]!;
        img.data[dst + 2] = pixels[src + (C === 3 ? 2 : 0)]!;
        img.data[dst + 3] = 255;
      }
    }
  }
  ctx.putImageData(img, 0, 0);
}

function readOptions(): SampleOptions {
  const num = (id: string) => Number(($(id) as HTMLInputElement).value);
  return {
    classId: num("class"),
    cfgScale: num("cfg"),
    sampler: ($("sampler") as HTMLSelectElement).value as SampleOptions["sampler"],
    steps: num("steps"),
    seed: num("seed"),
    numImages: num("num"),
  };
}

/** Show a hook call's options in the controls (so a screenshot says what was sampled). */
function writeOptions(o: SampleOptions): void {
  const set = (id: string, v: number | string) => (($(id) as HTMLInputElement).value = String(v));
  set("class", o.classId);
  set("cfg", o.cfgScale);
  set("sampler", o.sampler);
  set("steps", o.steps);
  set("seed", o.seed);
  set("num", o.numImages);
}

/** One sample at a time (the UI's and the hook's share the canvas). */
function run(opts: SampleOptions): Promise<SampleOutput> {
  const next = queue.then(() => runNow(opts));
  queue = next.catch(() => undefined);
  return next;
}

async function runNow(opts: SampleOptions): Promise<SampleOutput> {
  const s = state;
  if (!s) throw new Error("the models are not loaded yet (await window.dit.ready)");
  clearError();
  const ac = new AbortController();
  running = ac;
  $<HTMLButtonElement>("run").disabled = true;
  $<HTMLButtonElement>("cancel").disabled = false;
  const bar = $<HTMLProgressElement>("progress");
  bar.value = 0;
  const [H, W, C] = s.manifest.vae.image;
  const t0 = performance.now();
  let msSum = 0;
  try {
    const out = await sampleImages(s.dit, s.vae, s.manifest, s.backend, opts, {
      signal: ac.signal,
      previewEvery: opts.previews === false ? 0 : Math.min(5, Math.max(1, Math.round(opts.steps / 10))),
      onStep: (step, total, ms) => {
        msSum += ms;
        bar.max = total;
        bar.value = step;
        $("stepinfo").textContent = `step ${step}/${total} · ${(msSum / step).toFixed(1)} ms/step`;
      },
      onPreview: (pixels) => draw(pixels, opts.numImages, H, W, C),
    });
    draw(out.pixels, opts.numImages, H, W, C);
    const names = s.dit.info.conditional ? s.classes[opts.classId] ?? `class ${opts.classId}` : "unconditional";
    $("stepinfo").textContent = `${names}: ${opts.numImages} image${opts.numImages > 1 ? "s" : ""}, ${opts.sampler} ${opts.steps} steps, ${out.msPerStep.toFixed(1)} ms/step, ${((performance.now() - t0) / 1000).toFixed(2)} s in all`;
    return out;
  } catch (e) {
    if (ac.signal.aborted) $("stepinfo").textContent = "cancelled";
    throw e;
  } finally {
    running = undefined;
    $<HTMLButtonElement>("run").disabled = false;
    $<HTMLButtonElement>("cancel").disabled = true;
  }
}

/** Swap in another DiT (a user's `dit export` graph); the bundled one stays loaded to go back to. */
async function useModel(bytes: Uint8Array, label: string): Promise<void> {
  const s = state;
  if (!s) throw new Error("the page is still loading");
  const dit = await loadUserDiT(bytes, label, s.manifest, s.backend);
  s.dit = dit;
  $<HTMLSelectElement>("class").disabled = !dit.info.conditional;
  if (!dit.info.conditional) ($("cfg") as HTMLInputElement).value = "1";
  $("model").textContent = dit.label;
}

async function init(): Promise<{ backend: Backend }> {
  const base = document.baseURI;
  const query = new URLSearchParams(location.search);
  const backend = await chooseBackend(query.get("backend"));
  const threads = await configureOrt(query.get("threads"));
  $("backend").textContent = backend === "webgpu" ? "WebGPU" : `Wasm (${threads} thread${threads > 1 ? "s" : ""}${globalThis.crossOriginIsolated ? ", cross-origin isolated" : ", not cross-origin isolated"})`;
  $("backend").dataset.backend = backend;
  setStatus("loading models…");
  const manifest = await loadManifest(base);
  const classes = JSON.parse(new TextDecoder().decode(await fetchCached(new URL(`models/${manifest.classes}`, base).href))) as string[];
  const select = $<HTMLSelectElement>("class");
  select.replaceChildren(...classes.map((name, i) => new Option(`${i}: ${name}`, String(i))));
  const progress = (file: string, loaded: number, total: number) => setStatus(`loading ${file}: ${(loaded / 2 ** 20).toFixed(1)} / ${(total / 2 ** 20).toFixed(1)} MiB`);
  const [dit, vae] = [await loadBundledDiT(base, manifest, backend, progress), await loadVae(base, manifest, backend, progress)];
  state = { backend, manifest, classes, dit, bundled: dit, vae };
  $("model").textContent = dit.label;
  const v = manifest.vae;
  $("geometry").textContent = `${v.latentChannels} channels, ${v.latentSize}×${v.latentSize}`;
  setStatus("ready");
  $<HTMLButtonElement>("run").disabled = false;
  return { backend };
}

function wire(): void {
  ($("num") as HTMLInputElement).max = String(MAX_IMAGES);
  $("sampler").addEventListener("change", () => {
    ($("steps") as HTMLInputElement).value = ($("sampler") as HTMLSelectElement).value === "ddim" ? "50" : "25";
  });
  $("form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    run(readOptions()).catch((e: unknown) => {
      if (!(e instanceof DOMException && e.name === "AbortError")) showError(e);
    });
  });
  $("cancel").addEventListener("click", () => running?.abort(new DOMException("sampling cancelled", "AbortError")));
  $("load-url").addEventListener("click", () => {
    const url = ($("model-url") as HTMLInputElement).value.trim();
    if (!url) return showError(new ModelError("give the URL of a `dit export` .onnx graph"));
    clearError();
    setStatus(`loading ${url}…`);
    fetchCached(new URL(url, document.baseURI).href)
      .then((bytes) => useModel(bytes, url))
      .then(() => setStatus("ready"))
      .catch((e: unknown) => {
        setStatus("ready");
        showError(e);
      });
  });
  $("model-file").addEventListener("change", () => {
    const f = ($("model-file") as HTMLInputElement).files?.[0];
    if (!f) return;
    clearError();
    f.arrayBuffer()
      .then((b) => useModel(new Uint8Array(b), f.name))
      .catch((e: unknown) => showError(e));
  });
  $("bundled").addEventListener("click", () => {
    if (!state) return;
    state.dit = state.bundled;
    $<HTMLSelectElement>("class").disabled = false;
    $("model").textContent = state.bundled.label;
  });
}

wire();
const ready = init();
ready.catch((e: unknown) => {
  setStatus("failed");
  showError(e);
});

const plain = (o: SampleOutput): HookSampleResult => ({
  latents: Array.from(o.latents),
  latentShape: o.latentShape,
  pixels: Array.from(o.pixels),
  imageShape: o.imageShape,
  msPerStep: o.msPerStep,
  stepMs: o.stepMs,
  backend: o.backend,
});

const hook: DitHook = {
  ready,
  sample: async (opts: SampleOptions) => {
    await ready;
    if (!opts || typeof opts !== "object") throw new SampleError("sample(opts): expected { classId, cfgScale, sampler, steps, seed, numImages }");
    writeOptions(opts);
    return plain(await run(opts));
  },
};
(window as unknown as { dit: DitHook }).dit = hook;
