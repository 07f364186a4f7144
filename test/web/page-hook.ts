/**
 * The page's test hook (`window.dit`), typed, and the Node-side calls that
 * drive it through Playwright: open the page on a backend, sample, read the
 * result canvas back.
 *
 * Contract (web/src): `window.dit.ready` resolves to { backend } once the
 * models are loaded; `window.dit.sample(opts)` samples as Node's
 * `sample({ classes: [classId], numSamples: numImages, seed, sampler,
 * numSamplingSteps: steps, cfgScale })` and draws the images 1:1 into
 * `<canvas id="result">`; `?backend=wasm|webgpu` forces a backend.
 */
import type { Page } from "playwright-core";

import type { Backend, DitHook, HookSampleResult, SampleOptions } from "../../web/src/hook.js";

// The page's own contract (web/src/hook.ts), under the names the tests use.
export type WebBackend = Backend;
export type PageSampleOptions = SampleOptions;
export type PageSampleResult = HookSampleResult;
export type { DitHook };

/**
 * The page's globals as these callbacks see them (they run in the page; the
 * project compiles without the DOM library, so the few names used are typed here).
 */
interface PageGlobal {
  dit?: DitHook;
  crossOriginIsolated: boolean;
  document: { querySelector(sel: string): PageCanvas | null };
}
interface PageCanvas {
  width: number;
  height: number;
  getContext(kind: "2d"): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
}

/** Open the page at `baseUrl` with `?backend=…` and wait for `window.dit.ready`. */
export async function openPage(page: Page, baseUrl: string, backend: WebBackend, timeoutMs = 180_000): Promise<{ backend: WebBackend; crossOriginIsolated: boolean }> {
  page.setDefaultTimeout(timeoutMs);
  await page.goto(`${baseUrl}?backend=${backend}`, { waitUntil: "load" });
  await page.waitForFunction(() => typeof (globalThis as unknown as PageGlobal).dit?.sample === "function", undefined, { timeout: timeoutMs });
  return page.evaluate(async (ms) => {
    const g = globalThis as unknown as PageGlobal;
    const timeout = new Promise<never>((_, fail) => setTimeout(() => fail(new Error(`window.dit.ready did not resolve within ${ms / 1000} s`)), ms));
    const r = await Promise.race([g.dit!.ready, timeout]);
    return { backend: r.backend, crossOriginIsolated: g.crossOriginIsolated };
  }, timeoutMs);
}

/** `window.dit.sample(opts)` in the page, with the wall time around it (ms, measured in the page). */
export async function samplePage(page: Page, opts: PageSampleOptions, timeoutMs = 300_000): Promise<PageSampleResult & { wallMs: number }> {
  return page.evaluate(async ([o, ms]) => {
    const t0 = performance.now();
    const timeout = new Promise<never>((_, fail) => setTimeout(() => fail(new Error(`window.dit.sample did not finish within ${ms / 1000} s`)), ms));
    const r = await Promise.race([(globalThis as unknown as PageGlobal).dit!.sample(o), timeout]);
    const wallMs = performance.now() - t0;
    // copy into plain arrays: typed arrays would not survive the trip out of the page
    return { ...r, latents: Array.from(r.latents), pixels: Array.from(r.pixels), latentShape: Array.from(r.latentShape), imageShape: Array.from(r.imageShape), wallMs };
  }, [opts, timeoutMs] as const);
}

/** The RGBA pixels of `<canvas id="result">` (getImageData over the whole canvas). */
export async function readResultCanvas(page: Page): Promise<{ width: number; height: number; rgba: Uint8Array }> {
  const r = await page.evaluate(() => {
    const c = (globalThis as unknown as PageGlobal).document.querySelector("canvas#result");
    if (!c) throw new Error("the page has no <canvas id=\"result\">");
    const ctx = c.getContext("2d");
    if (!ctx) throw new Error("canvas#result has no 2d context (it was taken as another kind)");
    const d = ctx.getImageData(0, 0, c.width, c.height);
    return { width: c.width, height: c.height, rgba: Array.from(d.data) };
  });
  return { width: r.width, height: r.height, rgba: Uint8Array.from(r.rgba) };
}
