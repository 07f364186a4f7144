/**
 * `npm run bench:web`: the bundled DiT in headless Chromium (onnxruntime-web,
 * Wasm and WebGPU where an adapter comes up) against Node (onnxruntime-node)
 * on the same machine and the same exported graphs (web/dist/models).
 *
 * Rows (medians of interleaved runs, so every contender sees the same load):
 *   - one DiT forward at the exported guidance batch (2 rows: [cond; null]),
 *     timed in the page (performance.now around session.run + getData) by a
 *     small bench page that loads the page's own onnxruntime-web build
 *     (ort.min.mjs with the JSEP Wasm, as web/dist/ort) and graph; in Node by the project's Session
 *     (src/runtime/session.ts) on the same .onnx;
 *   - one full 25-step DPM-Solver++ sample (1 image, guidance 4) with the VAE
 *     decode: in the page through `window.dit.sample` (models already loaded);
 *     in Node through the same sampler loop (src/sample/loop.ts) on Sessions of
 *     the same DiT and VAE graphs, and, for reference, `sample()` end to end
 *     (which also compiles its graphs on each call).
 * Both sides use every core (Node: intra-op threads = cores; the page: Wasm
 * threads = navigator.hardwareConcurrency, cross-origin isolated).
 *
 *   npm run bench:web [-- --rounds N] [-- --forwards N] [-- --settle S] [-- --no-webgpu] [-- --graph FILE] [-- --json]
 *
 * The markdown table goes to stdout (or one JSON line with --json), progress to stderr.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { BUNDLED_MODEL_DIR, sample } from "../src/index.js";
import type { DiTConfig } from "../src/model/config.js";
import { Session } from "../src/runtime/session.js";
import { Tensor } from "../src/runtime/tensor.js";
import { sampleLatentBatch, samplerDiffusion } from "../src/sample/loop.js";
import { toUint8Hwc } from "../src/sample/pixels.js";
import { Rng } from "../src/util/rng.js";
import { chromiumMissing, launchChromium, probeWebGpu, type ChromiumSession } from "../test/web/browser.js";
import { openPage, samplePage, type PageSampleOptions, type WebBackend } from "../test/web/page-hook.js";
import { ensureSite, REPO_ROOT } from "../test/web/site.js";
import { serveStatic } from "../web/serve.js";

const HELP = `usage: npm run bench:web [-- --rounds N] [-- --forwards N] [-- --settle S] [-- --no-webgpu] [-- --graph FILE] [-- --json]

Time one DiT forward and one full 25-step DPM-Solver++ sample of the bundled
model in headless Chromium (Wasm, and WebGPU where an adapter comes up) and
in Node (onnxruntime-node) on the same graphs; interleaved runs, medians.

  --rounds N     full samples per contender (default 3)
  --forwards N   forwards per contender (default 30)
  --settle S     warm-up limit in seconds per browser (default 120). V8 runs
                 Wasm on its baseline compiler first and compiles hot functions
                 with TurboFan in background threads; on 2 cores that takes
                 ~8 s of forwards (~400), during which forwards are 3-6x
                 slower and noisy. Each browser is warmed until its times
                 settle (a block's median within 15 % of its minimum and of
                 the previous block's); the report gives the time it took and
                 the cold (first) and warm-up times
  --no-webgpu    skip the WebGPU backend
  --graph FILE   time the forward on this batch-2 DiT graph instead of the
                 page's (e.g. a plain \`dit export\` without --web)
  --json         one JSON line on stdout instead of the markdown table
  --help         this text
`;

interface GraphEntry {
  file: string;
  batch: number;
}
interface Manifest {
  dit: { config: DiTConfig; graphs: GraphEntry[] };
  vae: { graph: GraphEntry; scalingFactor: number; latentChannels: number; latentSize: number; image: [number, number, number] };
}

interface BenchOptions {
  rounds: number;
  forwards: number;
  settleS: number;
  webgpu: boolean;
  json: boolean;
  graph?: string;
}

function parseArgs(argv: string[]): BenchOptions | undefined {
  const o: BenchOptions = { rounds: 3, forwards: 30, settleS: 120, webgpu: true, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const int = (): number => {
      const v = argv[++i];
      if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1) throw new Error(`${a} needs a positive integer, got '${v ?? ""}'`);
      return Number(v);
    };
    if (a === "--help" || a === "-h") return undefined;
    else if (a === "--rounds") o.rounds = int();
    else if (a === "--forwards") o.forwards = int();
    else if (a === "--settle") o.settleS = int();
    else if (a === "--no-webgpu") o.webgpu = false;
    else if (a === "--json") o.json = true;
    else if (a === "--graph") {
      o.graph = argv[++i];
      if (!o.graph) throw new Error("--graph needs a file");
    }
    else throw new Error(`unknown option '${a}' (see --help)`);
  }
  return o;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Run `block` (one batch of timed calls) until its times settle: a block's median within
 * 15 % of its minimum and of the previous block's median (V8's Wasm tier-up is done),
 * or until `limitS` seconds. Returns every warm-up time, the seconds it took and whether it settled.
 */
async function settle(block: () => Promise<number[]>, limitS: number): Promise<{ times: number[]; seconds: number; settled: boolean }> {
  const t0 = performance.now();
  const times: number[] = [];
  let prev = Infinity;
  for (;;) {
    const b = await block();
    times.push(...b);
    const m = median(b);
    const settled = m <= 1.15 * Math.min(...b) && Math.abs(m - prev) <= 0.15 * prev;
    const seconds = (performance.now() - t0) / 1000;
    if (settled || seconds > limitS) return { times, seconds, settled };
    prev = m;
  }
}

/** The bench page: the page's onnxruntime-web build (ort.min.mjs + the JSEP .mjs/.wasm) and one graph, a forward timed in the page. */
const BENCH_HTML = `<!doctype html><meta charset="utf-8"><title>dit forward bench</title>
<script type="module">
import * as ort from "./ort.min.mjs";
const backend = new URLSearchParams(location.search).get("backend");
ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;
ort.env.wasm.wasmPaths = new URL("./", location.href).href;
let session;
window.bench = {
  ready: (async () => {
    const bytes = new Uint8Array(await (await fetch("dit.onnx")).arrayBuffer());
    session = await ort.InferenceSession.create(bytes, { executionProviders: [backend], graphOptimizationLevel: "all" });
    return { inputs: session.inputNames, outputs: session.outputNames, threads: ort.env.wasm.numThreads };
  })(),
  async loop(spec, n) {
    const ms = [];
    for (let i = 0; i < n; i++) ms.push(await window.bench.forward(spec));
    return ms;
  },
  async forward(spec) {
    const feeds = {
      x: new ort.Tensor("float32", Float32Array.from(spec.x), spec.xShape),
      t: new ort.Tensor("float32", Float32Array.from(spec.t), [spec.t.length]),
      y: new ort.Tensor("int32", Int32Array.from(spec.y), [spec.y.length]),
    };
    for (const k of Object.keys(feeds)) if (!session.inputNames.includes(k)) delete feeds[k];
    const t0 = performance.now();
    const r = await session.run(feeds);
    await r[session.outputNames[0]].getData();
    const ms = performance.now() - t0;
    for (const v of Object.values(r)) v.dispose();
    return ms;
  },
};
</script>`;

/** Forward inputs at the graph's batch: seeded x, t = 500, labels [7, null, 7, null, …]. */
function forwardInputs(c: DiTConfig, batch: number): { x: number[]; xShape: number[]; t: number[]; y: number[] } {
  const xShape = [batch, c.inChannels, c.inputSize, c.inputSize];
  const x = Array.from(new Rng(0).normals(xShape.reduce((a, b) => a * b, 1)));
  return { x, xShape, t: new Array(batch).fill(500), y: Array.from({ length: batch }, (_, i) => (i % 2 ? c.numClasses : 7)) };
}

/** A Session over a fixed-batch graph, run over `rows` rows (padding the last chunk by repeating its last row), as the page's engine does. */
async function runRows(s: Session, batch: number, inputs: { data: Float32Array | Int32Array; rowShape: number[] }[], rows: number): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for (let r0 = 0; r0 < rows; r0 += batch) {
    const k = Math.min(batch, rows - r0);
    const feeds = inputs.map((inp) => {
      const per = inp.rowShape.reduce((a, d) => a * d, 1);
      const buf = new (inp.data instanceof Float32Array ? Float32Array : Int32Array)(batch * per);
      buf.set(inp.data.subarray(r0 * per, (r0 + k) * per));
      for (let r = k; r < batch; r++) buf.copyWithin(r * per, (k - 1) * per, k * per);
      return new Tensor(buf, [batch, ...inp.rowShape]);
    });
    const out = (await s.run(feeds))[0]!.data as Float32Array;
    parts.push(out.slice(0, (out.length / batch) * k));
  }
  const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) all.set(p, (at += p.length) - p.length);
  return all;
}

const log = (m: string) => process.stderr.write(m + "\n");

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (!opts) return void process.stdout.write(HELP);
  const missing = chromiumMissing();
  if (missing) throw new Error(missing);

  const site = ensureSite(log);
  const manifest = JSON.parse(readFileSync(join(site, "models", "manifest.json"), "utf8")) as Manifest;
  const c = manifest.dit.config;
  const fwdGraph = manifest.dit.graphs.find((g) => g.batch === 2) ?? manifest.dit.graphs[0]!;
  const ditBytes = readFileSync(opts.graph ?? join(site, "models", fwdGraph.file));
  const vaeBytes = readFileSync(join(site, "models", manifest.vae.graph.file));

  // the bench page: onnxruntime-web as the page bundles it (JSEP build) + the DiT graph
  const benchDir = mkdtempSync(join(tmpdir(), "dit-bench-web-"));
  const ortDist = join(REPO_ROOT, "node_modules", "onnxruntime-web", "dist");
  for (const f of ["ort.min.mjs", "ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm"]) copyFileSync(join(ortDist, f), join(benchDir, f));
  writeFileSync(join(benchDir, "dit.onnx"), ditBytes);
  writeFileSync(join(benchDir, "index.html"), BENCH_HTML);

  const siteServer = await serveStatic(site);
  const benchServer = await serveStatic(benchDir);
  const browsers: ChromiumSession[] = [];
  const cores = cpus().length;
  const machine = `${cpus()[0]?.model ?? "unknown CPU"}, ${cores} cores (${process.platform}), Node ${process.version}`;
  log(`machine: ${machine}`);
  try {
    // ---- contenders ---------------------------------------------------------
    const backends: WebBackend[] = ["wasm"];
    let adapter = "";
    const skipped: string[] = [];
    if (opts.webgpu) {
      const probe = await launchChromium({ webgpu: true });
      browsers.push(probe);
      await probe.page.goto(benchServer.url + "__probe");
      const gpu = await probeWebGpu(probe.page);
      if (gpu.adapter) {
        backends.push("webgpu");
        adapter = `${gpu.adapter.vendor} ${gpu.adapter.architecture}`.trim();
      } else skipped.push(`WebGPU: ${gpu.reason}`);
    } else skipped.push("WebGPU: --no-webgpu");

    const pages: Record<string, { forward: ChromiumSession; sample: ChromiumSession; threads: number; version: string }> = {};
    for (const b of backends) {
      log(`starting Chromium (${b})…`);
      const fwd = await launchChromium({ webgpu: b === "webgpu" });
      browsers.push(fwd);
      await fwd.page.goto(`${benchServer.url}?backend=${b}`);
      const info = await fwd.page.evaluate(() => (globalThis as unknown as { bench: { ready: Promise<{ threads: number }> } }).bench.ready);
      const smp = await launchChromium({ webgpu: b === "webgpu" });
      browsers.push(smp);
      const ready = await openPage(smp.page, siteServer.url, b);
      if (ready.backend !== b) throw new Error(`the page runs ${ready.backend}, asked for ${b}`);
      const version = smp.browser.version(); // the full version (the user agent says 156.0.0.0)
      pages[b] = { forward: fwd, sample: smp, threads: info.threads, version };
    }

    const spec = forwardInputs(c, fwdGraph.batch);
    const nodeDit = await Session.create(ditBytes);
    const nodeVae = await Session.create(vaeBytes);
    const feedByName: Record<string, Tensor> = {
      x: new Tensor(Float32Array.from(spec.x), spec.xShape),
      t: new Tensor(Float32Array.from(spec.t), [fwdGraph.batch]),
      y: new Tensor(Int32Array.from(spec.y), [fwdGraph.batch]),
    };
    const nodeFeeds = nodeDit.inputNames.map((n) => feedByName[n] ?? (() => { throw new Error(`the DiT graph has an input '${n}' this bench does not know`); })());

    const nodeForward = async (): Promise<number> => {
      const t0 = performance.now();
      await nodeDit.run(nodeFeeds);
      return performance.now() - t0;
    };
    const browserForward = (b: WebBackend) => () => pages[b]!.forward.page.evaluate((s) => (globalThis as unknown as { bench: { forward(s: unknown): Promise<number> } }).bench.forward(s), spec);
    const browserForwards = (b: WebBackend, n: number) => pages[b]!.forward.page.evaluate(([s, k]) => (globalThis as unknown as { bench: { loop(s: unknown, n: number): Promise<number[]> } }).bench.loop(s, k), [spec, n] as const);

    const SAMPLE: PageSampleOptions = { classId: 7, cfgScale: 4, sampler: "dpm++", steps: 25, seed: 0, numImages: 1 };
    // Node through the same loop on Sessions of the same graphs (what the page does with onnxruntime-web)
    const nodeLoopSample = async (seed: number): Promise<number> => {
      const t0 = performance.now();
      const dg = fwdGraph.batch;
      const forward = async (x: Tensor, t: Tensor, y: Tensor): Promise<Tensor> => {
        const R = x.shape[0]!;
        const byName: Record<string, { data: Float32Array | Int32Array; rowShape: number[] }> = {
          x: { data: x.data as Float32Array, rowShape: [c.inChannels, c.inputSize, c.inputSize] },
          t: { data: Float32Array.from(t.data as Int32Array), rowShape: [] },
          y: { data: y.data as Int32Array, rowShape: [] },
        };
        const out = await runRows(nodeDit, dg, nodeDit.inputNames.map((n) => byName[n]!), R);
        return new Tensor(out, [R, out.length / R / c.inputSize / c.inputSize, c.inputSize, c.inputSize]);
      };
      const latents = await sampleLatentBatch(forward, { config: c, sampler: SAMPLE.sampler, diffusion: samplerDiffusion(SAMPLE.sampler, SAMPLE.steps), seed, cfgScale: SAMPLE.cfgScale, cfgMode: "official", indices: [0], labels: Int32Array.of(SAMPLE.classId) });
      const v = manifest.vae;
      const img = await runRows(nodeVae, v.graph.batch, [{ data: latents.map((z) => z / v.scalingFactor), rowShape: [v.latentChannels, v.latentSize, v.latentSize] }], 1);
      toUint8Hwc(img, [1, v.image[2], v.image[0], v.image[1]]);
      return performance.now() - t0;
    };
    const nodeSampleApi = async (seed: number): Promise<number> => {
      const t0 = performance.now();
      await sample({ model: BUNDLED_MODEL_DIR, classes: [SAMPLE.classId], numSamples: 1, seed, sampler: SAMPLE.sampler, numSamplingSteps: SAMPLE.steps, cfgScale: SAMPLE.cfgScale });
      return performance.now() - t0;
    };
    const msPerStep: Record<string, number[]> = {};
    // Without the page's x̂₀ previews (the same work as Node's loop), and as the UI runs it.
    const browserSample = (b: WebBackend, previews: boolean) => async (seed: number): Promise<number> => {
      const r = await samplePage(pages[b]!.sample.page, { ...SAMPLE, seed, previews });
      if (!previews) (msPerStep[b] ??= []).push(r.msPerStep);
      return r.wallMs;
    };

    // ---- forwards, interleaved ---------------------------------------------
    const fwdContenders: [string, () => Promise<number>][] = [["node", nodeForward], ...backends.map((b) => [b, browserForward(b)] as [string, () => Promise<number>])];
    const fwd: Record<string, number[]> = Object.fromEntries(fwdContenders.map(([k]) => [k, []]));
    // Warm-up: each contender until its times settle (V8's Wasm tier-up; see --settle).
    // Its first forward is the cold one a user's first step sees.
    const cold: Record<string, number> = {};
    const warmup: Record<string, { forwards: number; seconds: number; settled: boolean; medianMs: number }> = {};
    for (const [k] of fwdContenders) {
      log(`warm-up (${k}): forwards until the times settle (≤ ${opts.settleS} s)…`);
      const block = k === "node" ? async () => { const r: number[] = []; for (let i = 0; i < 25; i++) r.push(await nodeForward()); return r; }
        : k === "webgpu" ? async () => [await browserForward("webgpu")(), await browserForward("webgpu")(), await browserForward("webgpu")()]
        : () => browserForwards(k as WebBackend, 25);
      const w = await settle(block, opts.settleS);
      cold[k] = w.times[0]!;
      warmup[k] = { forwards: w.times.length, seconds: w.seconds, settled: w.settled, medianMs: median(w.times) };
      log(`  ${k}: ${w.times.length} forwards in ${w.seconds.toFixed(1)} s, ${w.settled ? "settled" : "NOT settled"}, cold ${w.times[0]!.toFixed(1)} ms`);
    }
    log(`forwards: ${opts.forwards} each, interleaved (${fwdContenders.map(([k]) => k).join(", ")})…`);
    for (let i = 0; i < opts.forwards; i++) for (const [k, f] of fwdContenders) fwd[k]!.push(await f());

    // ---- full samples, interleaved -----------------------------------------
    const smpContenders: [string, (seed: number) => Promise<number>][] = [["node", nodeLoopSample], ["node sample()", nodeSampleApi], ...backends.map((b) => [b, browserSample(b, false)] as [string, (seed: number) => Promise<number>]), ["wasm + previews", browserSample("wasm", true)]];
    const smp: Record<string, number[]> = Object.fromEntries(smpContenders.map(([k]) => [k, []]));
    // The sample pages are other browsers (their own Wasm instance, tiered up separately):
    // warm each with samples until its ms/step settles.
    const sampleWarmup: Record<string, { samples: number; seconds: number; settled: boolean }> = {};
    for (const [k, f] of smpContenders) {
      log(`warm-up (${k}): samples until the times settle (≤ ${opts.settleS} s)…`);
      let seed = 100;
      const w = k.startsWith("webgpu") ? { times: [await f(seed)], seconds: 0, settled: true } : await settle(async () => [await f(seed++), await f(seed++), await f(seed++)], opts.settleS);
      sampleWarmup[k] = { samples: w.times.length, seconds: w.seconds, settled: w.settled };
    }
    for (const k of Object.keys(msPerStep)) msPerStep[k] = [];
    log(`25-step samples: ${opts.rounds} each, interleaved…`);
    for (let i = 0; i < opts.rounds; i++) for (const [k, f] of smpContenders) smp[k]!.push(await f(i));
    await nodeDit.release();
    await nodeVae.release();

    // ---- report --------------------------------------------------------------
    const med = (r: Record<string, number[]>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, median(v)]));
    const F = med(fwd);
    const S = med(smp);
    const P = med(msPerStep);
    const result = {
      machine,
      chromium: pages.wasm?.version,
      webgpuAdapter: adapter || undefined,
      threads: { node: cores, wasm: pages.wasm?.threads },
      forwardBatch: fwdGraph.batch,
      forwardMs: F,
      coldForwardMs: cold,
      warmup,
      sampleWarmup,
      sample25Ms: S,
      pageMsPerStep: P,
      ratios: Object.fromEntries(backends.map((b) => [b, { forward: F[b]! / F.node!, sample25: S[b]! / S.node! }])),
      runs: { forwards: opts.forwards, samples: opts.rounds },
      skipped,
    };
    if (opts.json) return void process.stdout.write(JSON.stringify(result) + "\n");
    const f = (x: number | undefined) => (x === undefined ? "—" : x >= 100 ? x.toFixed(0) : x.toFixed(1));
    const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? "—" : `${(a / b).toFixed(2)}×`);
    const head = ["", "Node (onnxruntime-node)", ...backends.flatMap((b) => [b === "wasm" ? "Chromium, Wasm" : `Chromium, WebGPU (${adapter})`, "browser / Node"])];
    const row = (label: string, node: number | undefined, get: (b: WebBackend) => number | undefined) => [label, `${f(node)} ms`, ...backends.flatMap((b) => [`${f(get(b))} ms`, ratio(get(b), node)])];
    const lines = [
      `| ${head.join(" | ")} |`,
      `|${head.map((_, i) => (i === 0 ? "---" : "--:")).join("|")}|`,
      `| ${row(`one DiT forward (batch ${fwdGraph.batch}: [cond; null])`, F.node, (b) => F[b]).join(" | ")} |`,
      `| ${row("25-step DPM-Solver++ sample, guidance 4, 1 image, with the final VAE decode", S.node, (b) => S[b]).join(" | ")} |`,
    ];
    process.stdout.write(`${lines.join("\n")}\n\n`);
    process.stdout.write(
      `Medians of ${opts.forwards} forwards and ${opts.rounds} samples per column, interleaved; ${machine}; Chromium ${result.chromium ?? "?"} headless; ` +
        `Wasm with ${result.threads.wasm} threads (cross-origin isolated), Node with ${cores} intra-op threads. ` +
        `Timed after each contender's times settled (V8's Wasm tier-up): ${Object.entries(warmup).map(([k, w]) => `${k} after ${w.forwards} forwards / ${w.seconds.toFixed(1)} s${w.settled ? "" : " (NOT settled)"}`).join(", ")}; ` +
        `the first (cold) forward: ${Object.entries(cold).map(([k, v]) => `${k} ${f(v)} ms`).join(", ")}; median over the warm-up: ${Object.entries(warmup).map(([k, w]) => `${k} ${f(w.medianMs)} ms`).join(", ")}. ` +
        `Sample pages warmed with ${Object.entries(sampleWarmup).filter(([k]) => k !== "node" && k !== "node sample()").map(([k, w]) => `${k} ${w.samples} samples / ${w.seconds.toFixed(1)} s${w.settled ? "" : " (NOT settled)"}`).join(", ")}. ` +
        `The Wasm page as its UI runs it (also decoding x̂₀ every 3 steps for the preview): ${f(S["wasm + previews"])} ms. ` +
        `Node's \`sample()\` end to end (compiling its graphs on each call): ${f(S["node sample()"])} ms. ` +
        `The page's own ms/step: ${backends.map((b) => `${b} ${f(P[b])}`).join(", ")}.` +
        (skipped.length ? ` Skipped: ${skipped.join("; ")}.` : "") +
        "\n",
    );
  } finally {
    for (const b of browsers) await b.close();
    await siteServer.close();
    await benchServer.close();
    rmSync(benchDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:web: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
