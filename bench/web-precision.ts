/**
 * Where the page's WebGPU latents part from Node's (issue 13): the bundled
 * DiT's exported graph (web/dist/models, batch 2) run in headless Chromium on
 * WebGPU (and Wasm, for a baseline) against onnxruntime-node, for the test
 * case of test/web/page.test.ts (Sneaker, DPM-Solver++ 5 steps, guidance 4,
 * seed 3).
 *
 *   - single forwards, teacher-forced: the exact (x, t, y) Node's sampler
 *     loop feeds its DiT at each step, run in the page; relative L2 of the
 *     output per part: rows cond / uncond × channels ε (0..C-1) / variance
 *     (C..2C-1);
 *   - free-running: the sampler loop driven by the page's forward; relative
 *     L2 of each step's latent input and of the final latents against Node's.
 *
 * Graphs (batch 2): `native-gelu`, the DiT as `dit export` writes it (and
 * Node's `sample()` runs it: opset-20 Gelu(approximate="tanh")), the
 * reference; `erf-gelu`, the same with every Gelu made exact (what a backend
 * that ignores `approximate` computes); `page`, web/dist's graph (tanh-GELU
 * and Sin/Cos spelled out by expandTanhGelu, expandTrig). Each page output is compared with Node's
 * output of every graph for the same inputs.
 *
 *   node --import tsx bench/web-precision.ts [--steps N] [--no-wasm] [--json]
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import onnxProto from "onnx-proto";
import type { DiTConfig } from "../src/model/config.js";
import { lowerWholeModel } from "../src/model/runner.js";
import { Session } from "../src/runtime/session.js";
import { Tensor } from "../src/runtime/tensor.js";
import { sampleLatentBatch, samplerDiffusion } from "../src/sample/loop.js";
import { chromiumMissing, launchChromium, probeWebGpu, type ChromiumSession } from "../test/web/browser.js";
import type { WebBackend } from "../test/web/page-hook.js";
import { ensureSite, REPO_ROOT } from "../test/web/site.js";
import type { Manifest } from "../web/src/manifest.js";
import { BUNDLED_MODEL_DIR, loadModelSource } from "../src/sample/model-source.js";
import { serveStatic } from "../web/serve.js";

const { onnx } = onnxProto;

const HELP = `usage: node --import tsx bench/web-precision.ts [--steps N] [--no-wasm] [--json]

Compare the bundled DiT's forward in headless Chromium (WebGPU, Wasm) with
onnxruntime-node: teacher-forced single forwards per output part, and the
free-running DPM-Solver++ loop per step (Sneaker, guidance 4, seed 3).
`;

/** The case of test/web/page.test.ts. */
const CASE = { classId: 7, cfgScale: 4, seed: 3 };

/** Every Gelu made exact (approximate attribute dropped): what a backend that ignores `approximate` computes. */
function erfGelu(bytes: Uint8Array): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  for (const n of m.graph!.node!) if (n.opType === "Gelu") n.attribute = [];
  return onnx.ModelProto.encode(m).finish();
}

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    const d = got[i]! - want[i]!;
    num += d * d;
    den += want[i]! * want[i]!;
  }
  return Math.sqrt(num / den);
}

/** Relative L2 of the DiT output (R, 2C, S, S) per part: row r × ε / variance half. */
function perPart(got: Float32Array, want: Float32Array, R: number, C: number, S: number): Record<string, number> {
  const per = 2 * C * S * S;
  const half = C * S * S;
  const out: Record<string, number> = {};
  for (let r = 0; r < R; r++) {
    const row = r < R / 2 ? "cond" : "uncond";
    out[`${row}.eps`] = relErr(got.subarray(r * per, r * per + half), want.subarray(r * per, r * per + half));
    out[`${row}.var`] = relErr(got.subarray(r * per + half, (r + 1) * per), want.subarray(r * per + half, (r + 1) * per));
  }
  return out;
}

const PAGE_HTML = `<!doctype html><meta charset="utf-8"><title>dit precision</title>
<script type="module">
import * as ort from "./ort.min.mjs";
const backend = new URLSearchParams(location.search).get("backend");
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL("./", location.href).href;
const sessions = {};
window.probe = {
  async load(names) {
    for (const n of names) {
      const bytes = new Uint8Array(await (await fetch(n + ".onnx")).arrayBuffer());
      sessions[n] = await ort.InferenceSession.create(bytes, { executionProviders: [backend], graphOptimizationLevel: "all" });
    }
    return true;
  },
  async forward(name, spec) {
    const s = sessions[name];
    const feeds = {
      x: new ort.Tensor("float32", Float32Array.from(spec.x), spec.xShape),
      t: new ort.Tensor("float32", Float32Array.from(spec.t), [spec.t.length]),
      y: new ort.Tensor("int32", Int32Array.from(spec.y), [spec.y.length]),
    };
    const r = await s.run(feeds);
    const out = Array.from(await r[s.outputNames[0]].getData());
    for (const v of Object.values(r)) v.dispose();
    return out;
  },
};
</script>`;

interface Spec {
  x: number[];
  xShape: number[];
  t: number[];
  y: number[];
}
type Forward = (x: Tensor, t: Tensor, y: Tensor) => Promise<Tensor>;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help")) return void process.stdout.write(HELP);
  const si = argv.indexOf("--steps");
  const steps = si >= 0 ? Number(argv[si + 1]) : 5;
  if (!Number.isInteger(steps) || steps < 2 || steps > 1000) throw new Error(`--steps: expected an integer in 2..1000 (DPM-Solver++ steps), got '${argv[si + 1]}'`);
  const missing = chromiumMissing();
  if (missing) throw new Error(missing);
  const log = (m: string) => process.stderr.write(m + "\n");

  const site = ensureSite(log);
  const manifest = JSON.parse(readFileSync(join(site, "models", "manifest.json"), "utf8")) as Manifest;
  const c: DiTConfig = manifest.dit.config;
  const g = manifest.dit.graphs.find((x) => x.batch === 2)!;
  const src = loadModelSource(BUNDLED_MODEL_DIR);
  const native = (await lowerWholeModel(src.config, src.weights, g.batch)).encode();
  const graphs: Record<string, Uint8Array> = { "native-gelu": native, "erf-gelu": erfGelu(native), page: readFileSync(join(site, "models", g.file)) };

  const dir = mkdtempSync(join(tmpdir(), "dit-web-precision-"));
  const ortDist = join(REPO_ROOT, "node_modules", "onnxruntime-web", "dist");
  for (const f of ["ort.min.mjs", "ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm"]) copyFileSync(join(ortDist, f), join(dir, f));
  for (const [n, b] of Object.entries(graphs)) writeFileSync(join(dir, `${n}.onnx`), b);
  writeFileSync(join(dir, "index.html"), PAGE_HTML);
  const server = await serveStatic(dir);
  const browsers: ChromiumSession[] = [];
  const report: Record<string, unknown> = { case: { ...CASE, sampler: "dpm++", steps } };

  // ---- Node: the loop on each graph, every DiT call recorded -------------------------------------------------------
  const S = c.inputSize;
  const C = c.inChannels;
  const loop = (fwd: Forward) =>
    sampleLatentBatch(fwd, { config: c, sampler: "dpm++", diffusion: samplerDiffusion("dpm++", steps), seed: CASE.seed, cfgScale: CASE.cfgScale, cfgMode: "official", indices: [0], labels: Int32Array.of(CASE.classId) });
  interface Run {
    calls: { x: Float32Array; t: Int32Array; y: Int32Array; out: Float32Array }[];
    latents: Float32Array;
  }
  const recorded = async (fwd: Forward): Promise<Run> => {
    const calls: Run["calls"] = [];
    const latents = await loop(async (x, t, y) => {
      const out = await fwd(x, t, y);
      calls.push({ x: (x.data as Float32Array).slice(), t: (t.data as Int32Array).slice(), y: (y.data as Int32Array).slice(), out: (out.data as Float32Array).slice() });
      return out;
    });
    return { calls, latents };
  };
  const nodeForward = async (bytes: Uint8Array): Promise<Forward> => {
    const s = await Session.create(bytes);
    return async (x, t, y) => (await s.run([x, new Tensor(Float32Array.from(t.data as Int32Array), t.shape), y]))[0]!;
  };
  const node: Record<string, Run> = {};
  for (const [n, b] of Object.entries(graphs)) node[n] = await recorded(await nodeForward(b));
  const ref = node["native-gelu"]!;
  report.node = Object.fromEntries(Object.entries(node).map(([n, r]) => [n, { latents: relErr(r.latents, ref.latents), perStepInput: r.calls.map((k, i) => relErr(k.x, ref.calls[i]!.x)), perStepOutput: r.calls.map((k, i) => relErr(k.out, ref.calls[i]!.out)) }]));
  log(`node, each graph vs native-gelu: ${JSON.stringify(report.node)}`);

  try {
    const backends: WebBackend[] = argv.includes("--no-wasm") ? ["webgpu"] : ["webgpu", "wasm"];
    for (const backend of backends) {
      const b = await launchChromium({ webgpu: backend === "webgpu" });
      browsers.push(b);
      if (backend === "webgpu") {
        await b.page.goto(server.url + "__probe");
        const gpu = await probeWebGpu(b.page);
        if (!gpu.adapter) {
          log(`webgpu: skipped (${gpu.reason})`);
          continue;
        }
        report.adapter = gpu.adapter;
      }
      b.page.setDefaultTimeout(600_000);
      await b.page.goto(`${server.url}?backend=${backend}`);
      await b.page.waitForFunction(() => typeof (globalThis as unknown as { probe?: unknown }).probe === "object");
      const names = Object.keys(graphs);
      await b.page.evaluate((ns) => (globalThis as unknown as { probe: { load(n: string[]): Promise<boolean> } }).probe.load(ns), names);
      const pageForward =
        (name: string): Forward =>
        async (x, t, y) => {
          const spec: Spec = { x: Array.from(x.data as Float32Array), xShape: x.shape, t: Array.from(t.data as Int32Array), y: Array.from(y.data as Int32Array) };
          const out = await b.page.evaluate(([n, s]) => (globalThis as unknown as { probe: { forward(n: string, s: Spec): Promise<number[]> } }).probe.forward(n, s), [name, spec] as const);
          return new Tensor(Float32Array.from(out), [x.shape[0]!, 2 * C, S, S]);
        };
      const r: Record<string, unknown> = {};
      for (const name of names) {
        if (backend === "wasm" && name !== "page") continue;
        const t0 = Date.now();
        const f = pageForward(name);
        // teacher-forced: Node's inputs at each step (native-gelu run), the page's output against each Node variant's output for the same inputs
        const teacher = [];
        for (const k of ref.calls) {
          const got = (await f(new Tensor(k.x, [k.x.length / (C * S * S), C, S, S]), new Tensor(k.t, [k.t.length]), new Tensor(k.y, [k.y.length]))).data as Float32Array;
          const R = k.t.length;
          const vsNode: Record<string, unknown> = {};
          for (const [vn, vb] of Object.entries(graphs)) {
            const nf = await nodeForward(vb);
            const want = (await nf(new Tensor(k.x, [R, C, S, S]), new Tensor(k.t, [R]), new Tensor(k.y, [R]))).data as Float32Array;
            vsNode[vn] = { all: relErr(got, want), ...perPart(got, want, R, C, S) };
          }
          teacher.push({ t: k.t[0], vsNode });
        }
        // free-running: the loop on the page's forward
        const free = await recorded(f);
        r[name] = {
          teacher,
          free: { latents: relErr(free.latents, ref.latents), latentsVsSameVariantNode: relErr(free.latents, node[name]!.latents), perStepInput: free.calls.map((k, i) => relErr(k.x, ref.calls[i]!.x)), perStepOutput: free.calls.map((k, i) => relErr(k.out, ref.calls[i]!.out)) },
          seconds: (Date.now() - t0) / 1000,
        };
        log(`${backend} ${name}: ${JSON.stringify(r[name])}`);
      }
      report[backend] = r;
      await b.close();
    }
  } finally {
    for (const b of browsers) await b.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(report, null, argv.includes("--json") ? 0 : 1) + "\n");
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
