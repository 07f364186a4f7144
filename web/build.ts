/**
 * `npm run web:build`: the static site in web/dist.
 *
 *   1. Vite builds the page (web/index.html, web/src) into web/dist;
 *   2. the bundled DiT (models/fashion-mnist/dit.safetensors) is exported with
 *      `dit export`'s library half (`exportModel`: inputs x, t, y; output out)
 *      once per batch size in DIT_BATCHES, the VAE decoder with
 *      `lowerVaeDecoder` (input z, output image), both lowered by the project's
 *      compiler, into web/dist/models/; the DiT's tanh-GELUs spelled out in
 *      Mul/Add/Tanh (src/runtime/expand-gelu.ts: onnxruntime-web's WebGPU
 *      Gelu computes exact GELU whatever `approximate` says) and its Sin/Cos
 *      in Floor/Mul/Add (src/runtime/expand-trig.ts: WGSL sin/cos promise
 *      2^-11 only);
 *   3. classes.json (the class names) and manifest.json (files, batch sizes,
 *      SHA-256, the DiT config, the VAE's geometry and scaling factor).
 *
 * Batch and guidance: graphs have their batch baked in. The page runs the
 * model's R rows (2 × images with guidance, [cond; null]) in chunks of the
 * exported batch sizes (largest first, the last chunk padded), so any number
 * of images works with any exported graph, a user's batch-1 `dit export` too.
 * DIT_BATCHES = [2, 8]: 2 is one guided image (one call per step, as Node at
 * batch 2), 8 is four guided images in one call.
 *
 *   node --import tsx web/build.ts [--out web/dist] [--batches 2,8] [--skip-vite]
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { writeFileAtomic } from "../src/io/atomic-file.js";
import { exportModel } from "../src/io/export-model.js";
import { saveOnnx } from "../src/io/onnx-file.js";
import { BUNDLED_MODEL_DIR, loadModelSource } from "../src/sample/model-source.js";
import { loadVaeSource } from "../src/sample/vae-source.js";
import { downsampleFactor } from "../src/vae/config.js";
import { lowerVaeDecoder } from "../src/vae/export.js";
import onnxProto from "onnx-proto";
import type { GraphEntry, Manifest } from "./src/manifest.js";
import { ONNX_DATA_TYPES } from "./src/onnx-proto-shim.js";

const WEB = fileURLToPath(new URL(".", import.meta.url));

/** DiT batch sizes exported for the page (rows per call). */
export const DIT_BATCHES = [2, 8];
/** VAE decoder batch (images per call). */
export const VAE_BATCH = 1;

function entry(dir: string, file: string, batch: number): GraphEntry {
  const bytes = readFileSync(join(dir, file));
  return { file, batch, bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
}

/** Write the models, classes and manifest into `out`/models. */
export async function buildModels(out: string, batches: readonly number[] = DIT_BATCHES): Promise<Manifest> {
  const dir = join(out, "models");
  mkdirSync(dir, { recursive: true });
  const m = loadModelSource(BUNDLED_MODEL_DIR);
  if (!m.vae) throw new Error(`${BUNDLED_MODEL_DIR}: the bundled model names no VAE`);
  if (!m.classNames) throw new Error(`${BUNDLED_MODEL_DIR}: the bundled model carries no class names`);
  const vae = loadVaeSource(m.vae);
  if (!vae) throw new Error("the bundled model's VAE did not load");
  const c = m.config;
  const graphs: GraphEntry[] = [];
  for (const b of batches) {
    const file = `dit-b${b}.onnx`;
    // web: WebGPU's Gelu ignores approximate="tanh" and its sin/cos are good to 2^-11 only: spell both out (issue 13)
    await exportModel(c, m.weights, join(dir, file), { batch: b, externalData: false, web: true });
    graphs.push(entry(dir, file, b));
    process.stderr.write(`wrote models/${file}\n`);
  }
  const vaeFile = `vae-decoder-b${VAE_BATCH}.onnx`;
  saveOnnx(await lowerVaeDecoder(vae.config, vae.weights, c.inputSize, VAE_BATCH), join(dir, vaeFile), { name: "vae_decoder", externalData: false });
  process.stderr.write(`wrote models/${vaeFile}\n`);
  const side = c.inputSize * downsampleFactor(vae.config);
  writeFileAtomic(join(dir, "classes.json"), JSON.stringify(m.classNames));
  const manifest: Manifest = {
    dit: { config: c, graphs },
    vae: {
      graph: entry(dir, vaeFile, VAE_BATCH),
      scalingFactor: vae.config.scalingFactor,
      latentChannels: vae.config.latentChannels,
      latentSize: c.inputSize,
      image: [side, side, vae.config.outChannels],
    },
    classes: "classes.json",
  };
  writeFileAtomic(join(dir, "manifest.json"), JSON.stringify(manifest, null, 1));
  return manifest;
}

/** The page's onnx-proto shim must give the same data type numbers as onnx-proto itself. */
export function checkOnnxShim(): void {
  const real = onnxProto.onnx.TensorProto.DataType as unknown as Record<string, number>;
  for (const [k, v] of Object.entries(ONNX_DATA_TYPES)) {
    if (real[k] !== v) throw new Error(`web/src/onnx-proto-shim.ts: DataType.${k} is ${v}, onnx-proto says ${real[k]}`);
  }
}

/** onnxruntime-web's Wasm glue and binary (the JSEP build: Wasm CPU and WebGPU), which the page loads from ort/. */
export const ORT_RUNTIME_FILES = ["ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm"];

/** Copy ORT_RUNTIME_FILES from the installed onnxruntime-web into `out`/ort. */
export function copyOrtRuntime(out: string): void {
  const from = join(dirname(createRequire(import.meta.url).resolve("onnxruntime-web")), ".");
  mkdirSync(join(out, "ort"), { recursive: true });
  for (const f of ORT_RUNTIME_FILES) writeFileAtomic(join(out, "ort", f), readFileSync(join(from, f)));
}

/** Sizes of the page's JavaScript and of ONNX Runtime's .wasm (bytes, gzipped), models excluded. */
export function pageSizes(out: string): { file: string; bytes: number; gzip: number }[] {
  return ["assets", "ort"].flatMap((sub) =>
    readdirSync(join(out, sub))
      .filter((f) => /\.(m?js|css|wasm)$/.test(f))
      .map((f) => {
        const data = readFileSync(join(out, sub, f));
        return { file: `${sub}/${f}`, bytes: statSync(join(out, sub, f)).size, gzip: gzipSync(data, { level: 9 }).length };
      }),
  );
}

async function main(argv: string[]): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(
      "usage: node --import tsx web/build.ts [--out DIR] [--batches 2,8] [--skip-vite]\n\n" +
        "Build the browser page (Vite) and export the bundled DiT (one graph per batch size) and VAE decoder\n" +
        "with the project's compiler, plus classes.json and manifest.json, into DIR (default web/dist).\n",
    );
    return;
  }
  const opt = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const out = resolve(opt("--out") ?? join(WEB, "dist"));
  const batchesArg = opt("--batches");
  const batches = batchesArg ? batchesArg.split(",").map(Number) : DIT_BATCHES;
  if (batches.length === 0 || batches.some((b) => !Number.isInteger(b) || b < 1)) throw new Error(`--batches: expected positive integers separated by commas, got '${batchesArg}'`);
  checkOnnxShim();
  if (!argv.includes("--skip-vite")) {
    const { build } = await import("vite");
    await build({ configFile: join(WEB, "vite.config.ts"), build: { outDir: out }, logLevel: "warn" });
  }
  copyOrtRuntime(out);
  await buildModels(out, batches);
  const sizes = pageSizes(out);
  for (const s of sizes) process.stderr.write(`${s.file}: ${(s.bytes / 1024).toFixed(1)} KiB, ${(s.gzip / 1024).toFixed(1)} KiB gzipped\n`);
  const js = sizes.filter((s) => /\.m?js$/.test(s.file));
  process.stderr.write(`page JavaScript: ${(js.reduce((a, s) => a + s.bytes, 0) / 1024).toFixed(1)} KiB, ${(js.reduce((a, s) => a + s.gzip, 0) / 1024).toFixed(1)} KiB gzipped (the page and ONNX Runtime's glue; models and the .wasm excluded)\n`);
  process.stderr.write(`site: ${out} (${basename(out)}/index.html)\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`web:build: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
