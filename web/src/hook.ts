/**
 * The page's test hook, `window.dit`: the contract between the page (main.ts)
 * and its drivers (test/web, `npm run bench:web`). No DOM here, so Node code
 * type-checks against the same definitions the page implements.
 */

/** Which onnxruntime-web backend runs. */
export type Backend = "webgpu" | "wasm";

/** The options of `window.dit.sample` (Node: sample({ classes: [classId], numSamples: numImages, seed, sampler, numSamplingSteps: steps, cfgScale })). */
export interface SampleOptions {
  classId: number;
  cfgScale: number;
  sampler: "ddim" | "dpm++";
  steps: number;
  seed: number;
  numImages: number;
  /**
   * Draw the decoded x̂₀ every few steps while sampling (default true, as the UI does).
   * false skips those VAE decodes: `npm run bench:web` compares the sampling work with Node's.
   */
  previews?: boolean;
}

/** What `window.dit.sample` resolves to: plain arrays, so it survives the trip out of the page. */
export interface HookSampleResult {
  /** Final latents of the conditional half, (N, C, h, w), row-major. */
  latents: number[];
  /** [N, C, h, w]. */
  latentShape: number[];
  /** uint8 (N, H, W, C) as drawn (Node's toUint8Hwc). */
  pixels: number[];
  /** [N, H, W, C]. */
  imageShape: number[];
  /** Mean wall time of a sampler step (previews excluded). */
  msPerStep: number;
  /** Each step's wall time (the first includes the backend's warm-up). */
  stepMs: number[];
  backend: Backend;
}

/** `window.dit`. */
export interface DitHook {
  /** Resolves once the models are loaded; rejects with the reason (e.g. ?backend=webgpu without an adapter). */
  ready: Promise<{ backend: Backend }>;
  sample(opts: SampleOptions): Promise<HookSampleResult>;
}
