/**
 * The page (web/) in real headless Chromium (Debian's, via playwright-core):
 * built if missing or stale, served cross-origin isolated by web/serve.ts,
 * sampled through its test hook on the Wasm backend and on WebGPU
 * (SwiftShader) where an adapter comes up, and compared with Node's
 * `sample()` on the bundled model for the same class, seed, sampler, steps
 * and guidance:
 *   - final latents: relative L2 ≤ 1e-3 (Wasm), ≤ 1e-2 (WebGPU);
 *   - the canvas, read back with getImageData: within 2/255 of Node's PNG on ≥ 99 % of pixels;
 *   - a screenshot of the page (kept in the test's temp folder with DIT_WEB_KEEP=1).
 * Without Chromium the suite is skipped, naming `apt-get install chromium`;
 * without a WebGPU adapter the WebGPU case is skipped with the reason.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PNG } from "pngjs";
import { BUNDLED_MODEL_DIR, sample, type SampleResult } from "../../src/index.js";
import { encodePng, gridImage, gridLayout } from "../../src/sample/png.js";
import { serveStatic, type StaticServer } from "../../web/serve.js";
import { relErr } from "../helpers.js";
import { chromiumMissing, launchChromium, probeWebGpu } from "./browser.js";
import { openPage, readResultCanvas, samplePage, type PageSampleOptions, type WebBackend } from "./page-hook.js";
import { ensureSite } from "./site.js";

/** The sample both sides draw: a Sneaker (class 7), DPM-Solver++ 5 steps, guidance 4. */
const OPTS: PageSampleOptions = { classId: 7, cfgScale: 4, sampler: "dpm++", steps: 5, seed: 3, numImages: 1 };
const LATENT_TOL: Record<WebBackend, number> = { wasm: 1e-3, webgpu: 1e-2 };
/**
 * Backends whose case is known not to meet its bound yet: reported as TODO (run,
 * asserted, not failing CI), with the reason. None now. WebGPU measured 1.22e-2
 * rel. L2 here while the page's DiT used ONNX Gelu (onnxruntime-web's WebGPU
 * Gelu computes exact GELU, ignoring approximate="tanh") and Sin/Cos (WGSL's
 * are good to 2^-11); web/build.ts spells both out (src/runtime/expand-gelu.ts,
 * expand-trig.ts; numbers from bench/web-precision.ts): ~4e-5 now.
 */
const OPEN: Partial<Record<WebBackend, string>> = {};
/** Canvas vs Node's PNG: a pixel matches when every channel is within 2/255; ≥ 99 % must. */
const PIXEL_TOL = 2;
const PIXEL_FRACTION = 0.99;

/** Fraction of pixels whose R, G and B are all within `tol` of the PNG's (both RGBA). */
function matchingFraction(got: Uint8Array, want: Uint8Array, tol: number): number {
  assert.equal(got.length, want.length);
  let ok = 0;
  for (let i = 0; i < got.length; i += 4) {
    if (Math.abs(got[i]! - want[i]!) <= tol && Math.abs(got[i + 1]! - want[i + 1]!) <= tol && Math.abs(got[i + 2]! - want[i + 2]!) <= tol) ok++;
  }
  return ok / (got.length / 4);
}

/** Node's PNG of the sample as the canvas should show it (one image: its PNG; several: the grid PNG), decoded to RGBA. */
function nodePng(r: SampleResult, width: number, height: number): { rgba: Uint8Array; what: string } {
  const [N, H, W, C] = r.shape;
  let png: Buffer;
  let what: string;
  if (width === W && height === H && N === 1) {
    png = encodePng(r.images, H, W, C);
    what = `the single ${W}×${H} PNG`;
  } else {
    const g = gridImage(r.images, r.shape, gridLayout(N, r.classes));
    if (g.width !== width || g.height !== height) {
      throw new assert.AssertionError({ message: `canvas#result is ${width}×${height}; Node's image is ${W}×${H} and its grid ${g.width}×${g.height}: the page does not draw at 1:1` });
    }
    png = encodePng(g.pixels, g.height, g.width, C);
    what = `the ${g.width}×${g.height} grid PNG`;
  }
  return { rgba: new Uint8Array(PNG.sync.read(png).data), what };
}

const noChromium = chromiumMissing();

describe("the page in headless Chromium", { skip: noChromium, timeout: 600_000 }, () => {
  let server: StaticServer;
  let node: SampleResult;
  let work: string;
  let site: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "dit-web-test-"));
    site = ensureSite();
    server = await serveStatic(site);
    node = await sample({ model: BUNDLED_MODEL_DIR, classes: [OPTS.classId], numSamples: OPTS.numImages, seed: OPTS.seed, sampler: OPTS.sampler, numSamplingSteps: OPTS.steps, cfgScale: OPTS.cfgScale });
  });

  after(async () => {
    await server?.close();
    if (process.env.DIT_WEB_KEEP) process.stderr.write(`browser test files kept in ${work}\n`);
    else if (work) rmSync(work, { recursive: true, force: true });
  });

  it("the tolerance tells samples apart: Node's latents for seed 3 and seed 4 differ by far more than 1e-2", async () => {
    const other = await sample({ model: BUNDLED_MODEL_DIR, classes: [OPTS.classId], numSamples: 1, seed: OPTS.seed + 1, sampler: OPTS.sampler, numSamplingSteps: OPTS.steps, cfgScale: OPTS.cfgScale });
    assert.ok(relErr(other.latents, node.latents) > 0.1, `seed 3 vs 4: ${relErr(other.latents, node.latents)}`);
  });

  for (const backend of ["wasm", "webgpu"] as const) {
    it(`${backend}: Sneaker, DPM-Solver++ 5 steps, guidance 4, seed 3: latents ≤ ${LATENT_TOL[backend]} rel. L2 and canvas within 2/255 of Node's`, { todo: OPEN[backend] ?? false }, async (t) => {
      const b = await launchChromium({ webgpu: backend === "webgpu", console: !!process.env.DIT_WEB_CONSOLE });
      try {
        if (backend === "webgpu") {
          await b.page.goto(server.url + "__webgpu-probe"); // a 404 on localhost: a secure context to ask for an adapter, no models loaded
          const gpu = await probeWebGpu(b.page);
          if (!gpu.adapter) return t.skip(`no WebGPU adapter in headless Chromium with ${b.args.filter((a) => a.includes("webgpu") || a.includes("swiftshader")).join(" ")}: ${gpu.reason}`);
          t.diagnostic(`WebGPU adapter: ${gpu.adapter.vendor} ${gpu.adapter.architecture}`);
        }
        const ready = await openPage(b.page, server.url, backend, 120_000);
        assert.equal(ready.crossOriginIsolated, true, "the page is not cross-origin isolated (COOP/COEP headers)");
        assert.equal(ready.backend, backend, `?backend=${backend} asked for ${backend}, the page runs ${ready.backend}`);

        const r = await samplePage(b.page, OPTS);
        t.diagnostic(`${backend}: ${r.msPerStep.toFixed(1)} ms/step, ${r.wallMs.toFixed(0)} ms for ${OPTS.steps} steps + decode`);
        assert.equal(r.backend, backend);

        // latents of the conditional half, (N, C, h, w), against Node's
        const c = node.config;
        assert.deepEqual(r.latentShape, [OPTS.numImages, c.inChannels, c.inputSize, c.inputSize]);
        const err = relErr(r.latents, node.latents);
        t.diagnostic(`latents: relative L2 ${err.toExponential(2)} (tolerance ${LATENT_TOL[backend]})`);
        assert.ok(err <= LATENT_TOL[backend], `${backend} latents differ from Node's by ${err} relative L2 > ${LATENT_TOL[backend]}`);
        assert.deepEqual(r.imageShape, [...node.shape]);

        // the canvas as drawn, against Node's PNG
        const canvas = await readResultCanvas(b.page);
        const want = nodePng(node, canvas.width, canvas.height);
        const frac = matchingFraction(canvas.rgba, want.rgba, PIXEL_TOL);
        t.diagnostic(`canvas ${canvas.width}×${canvas.height} vs ${want.what}: ${(100 * frac).toFixed(2)} % of pixels within ${PIXEL_TOL}/255`);
        assert.ok(frac >= PIXEL_FRACTION, `only ${(100 * frac).toFixed(2)} % of the canvas pixels are within ${PIXEL_TOL}/255 of Node's PNG (need ${100 * PIXEL_FRACTION} %)`);

        if (backend === "wasm") {
          // previews: false (what bench:web times) skips the x̂₀ decodes, not any of the sampling
          const q = await samplePage(b.page, { ...OPTS, previews: false });
          const same = relErr(q.latents, r.latents);
          t.diagnostic(`previews: false: latents ${same.toExponential(2)} rel. L2 from the run with previews, ${q.wallMs.toFixed(0)} ms vs ${r.wallMs.toFixed(0)} ms`);
          assert.ok(same <= 1e-6, `sampling without previews changed the latents by ${same} relative L2`);

          // Cancel: a long sample, stopped with the page's button once it has started stepping
          await b.page.evaluate(() => {
            const g = globalThis as unknown as { dit: { sample(o: unknown): Promise<unknown> }; cancelOutcome?: Promise<string> };
            g.cancelOutcome = g.dit.sample({ classId: 1, cfgScale: 1, sampler: "ddim", steps: 250, seed: 9, numImages: 8 }).then(
              () => "finished",
              (e: unknown) => `rejected: ${e instanceof Error ? e.name + " " + e.message : String(e)}`,
            );
          });
          await b.page.waitForFunction(() => /^step \d+\/250/.test((globalThis as unknown as { document: { getElementById(id: string): { textContent: string } | null } }).document.getElementById("stepinfo")?.textContent ?? ""), undefined, { timeout: 60_000 });
          await b.page.click("#cancel");
          const outcome = await b.page.evaluate(() => (globalThis as unknown as { cancelOutcome: Promise<string> }).cancelOutcome);
          const info = await b.page.textContent("#stepinfo");
          t.diagnostic(`cancel: ${outcome}; #stepinfo "${info}"`);
          assert.match(outcome, /^rejected: AbortError/, "a cancelled sample must reject with an AbortError");
          assert.equal(info, "cancelled");
          assert.equal(await b.page.isDisabled("#cancel"), true, "the Cancel button stays enabled after cancelling");
          // and the page samples again afterwards, the same latents as before
          const again = await samplePage(b.page, { ...OPTS, previews: false });
          assert.ok(relErr(again.latents, r.latents) <= 1e-6, "after a cancel the next sample differs");

          // Load another model with the file picker: a graph that is not a DiT gets a clear message,
          // a `dit export --web` DiT (here the bundled one under another name) replaces the model
          await b.page.setInputFiles("#model-file", join(site, "models", "vae-decoder-b1.onnx"));
          await b.page.waitForSelector("#error:not([hidden])", { timeout: 60_000 });
          const refusal = (await b.page.textContent("#error")) ?? "";
          t.diagnostic(`a VAE graph as the model: "${refusal.slice(0, 200)}"`);
          assert.match(refusal, /vae-decoder-b1\.onnx/, "the message names the file");
          assert.match(refusal, /input/i, "the message says what the graph's inputs should be");
          const mine = join(work, "my-dit.onnx");
          copyFileSync(join(site, "models", "dit-b2.onnx"), mine);
          await b.page.setInputFiles("#model-file", mine);
          await b.page.waitForFunction(() => /my-dit\.onnx/.test((globalThis as unknown as { document: { getElementById(id: string): { textContent: string } | null } }).document.getElementById("model")?.textContent ?? ""), undefined, { timeout: 60_000 });
          const loaded = await samplePage(b.page, { ...OPTS, previews: false });
          assert.ok(relErr(loaded.latents, r.latents) <= 1e-6, "the loaded copy of the bundled DiT samples other latents");
        }

        const shot = join(work, `page-${backend}.png`);
        await b.page.screenshot({ path: shot, fullPage: true });
        assert.ok(statSync(shot).size > 1000, "the screenshot is empty");
        t.diagnostic(`screenshot: ${shot}`);
      } catch (e) {
        // name what the page reported: a failure in the page shows up here as a timeout or a bare error otherwise
        if (b.errors.length && e instanceof Error) e.message += `\n  the page reported: ${[...new Set(b.errors)].slice(0, 8).join(" | ")}`;
        throw e;
      } finally {
        await b.close();
      }
    });
  }
});
