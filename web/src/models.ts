/**
 * The page's models: the manifest `web:build` writes (models/manifest.json),
 * fetching graphs once into the Cache API, and checking a user's `dit export`
 * graph against the VAE before it is used.
 */
import type { DiTConfig } from "../../src/model/config.js";

/** One ONNX graph of the site, with the batch baked into it. */
export interface GraphEntry {
  /** File name under models/. */
  file: string;
  /** Rows per run (the batch baked in at export). */
  batch: number;
  bytes: number;
  /** SHA-256 of the file (hex): part of the URL, so a rebuilt model is never served from an old cache entry. */
  sha256: string;
}

/** models/manifest.json, written by web/build.ts. */
export interface Manifest {
  dit: {
    config: DiTConfig;
    /** The same DiT exported at several batch sizes (rows: images × 2 with guidance); the page runs rows in chunks of these. */
    graphs: GraphEntry[];
  };
  vae: {
    /** Decoder graph: input z (batch, latentChannels, latentSize, latentSize) unscaled latents → image (batch, C, H, W). */
    graph: GraphEntry;
    scalingFactor: number;
    latentChannels: number;
    latentSize: number;
    /** Decoded image (H, W, C). */
    image: [number, number, number];
  };
  /** File name of the class names (a JSON array of strings). */
  classes: string;
}

/** A model the page cannot use, with the reason in words. */
export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelError";
  }
}

const CACHE = "dit-ts-models-v1";

/**
 * The bytes at `url`, fetched once: later calls (and later visits) read the
 * Cache API copy. URLs carry the file's hash, so the cache never serves a
 * stale model. Falls back to a plain fetch where the Cache API is absent.
 */
export async function fetchCached(url: string, onProgress?: (loaded: number, total: number) => void): Promise<Uint8Array> {
  const cache = typeof caches !== "undefined" ? await caches.open(CACHE).catch(() => undefined) : undefined;
  const hit = await cache?.match(url);
  if (hit) return new Uint8Array(await hit.arrayBuffer());
  const res = await fetch(url);
  if (!res.ok) throw new ModelError(`${url}: HTTP ${res.status} ${res.statusText}`);
  const total = Number(res.headers.get("content-length") ?? 0);
  const parts: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body?.getReader();
  if (reader) {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      loaded += value.length;
      onProgress?.(loaded, total);
    }
  } else parts.push(new Uint8Array(await res.arrayBuffer()));
  const bytes = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  await cache?.put(url, new Response(bytes, { headers: { "content-type": "application/octet-stream" } })).catch(() => undefined);
  return bytes;
}

/** The manifest (never cached: it names the current files). */
export async function loadManifest(base: string): Promise<Manifest> {
  const res = await fetch(new URL("models/manifest.json", base), { cache: "no-cache" });
  if (!res.ok) throw new ModelError(`models/manifest.json: HTTP ${res.status} — build the site with \`npm run web:build\``);
  return (await res.json()) as Manifest;
}

/** What a graph's input or output looks like (from the session's metadata). */
export interface IoMeta {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: readonly (number | string)[];
}

/** A `dit export` graph's geometry, once checked. */
export interface DiTGraphInfo {
  batch: number;
  inChannels: number;
  inputSize: number;
  outChannels: number;
  conditional: boolean;
}

const fmt = (m: IoMeta) => `${m.name}: ${m.type ?? "?"}[${m.shape?.join(", ") ?? "?"}]`;

/**
 * Check a DiT graph (as `dit export` writes it: inputs x (N, C, S, S) float32,
 * t (N) float32, y (N) int32 for class-conditional models; output out
 * (N, 2C, S, S) for learn_sigma models) against the VAE: C must be its latent
 * channels and S its latent size. Throws ModelError naming what differs.
 */
export function checkDiTGraph(inputs: readonly IoMeta[], outputs: readonly IoMeta[], vae: Manifest["vae"]): DiTGraphInfo {
  const want = `a \`dit export\` graph has inputs x (N, ${vae.latentChannels}, ${vae.latentSize}, ${vae.latentSize}) float32, t (N) float32, y (N) int32 and the output out (N, ${2 * vae.latentChannels}, ${vae.latentSize}, ${vae.latentSize}) float32`;
  const got = `this graph has inputs ${inputs.map(fmt).join("; ") || "none"} and outputs ${outputs.map(fmt).join("; ") || "none"}`;
  const fail = (why: string): never => {
    throw new ModelError(`${why}. Expected: ${want}; ${got}.`);
  };
  const names = inputs.map((m) => m.name);
  const known = ["x", "t", "y"];
  const extra = names.filter((n) => !known.includes(n));
  if (extra.length > 0) fail(`unexpected input${extra.length > 1 ? "s" : ""} ${extra.join(", ")}`);
  const x = inputs.find((m) => m.name === "x") ?? fail("no input named x");
  const t = inputs.find((m) => m.name === "t") ?? fail("no input named t");
  const y = inputs.find((m) => m.name === "y");
  const out = outputs.length === 1 && outputs[0]!.name === "out" ? outputs[0]! : fail(outputs.length === 1 ? `the output is named ${outputs[0]!.name}, not out` : `${outputs.length} outputs, expected one (out)`);
  const dims = (m: IoMeta, rank: number): number[] => {
    if (!m.isTensor || !m.shape) fail(`${m.name} is not a tensor`);
    if (m.shape!.length !== rank) fail(`${m.name} has rank ${m.shape!.length}, expected ${rank}`);
    return m.shape!.map((d) => (typeof d === "number" && d > 0 ? d : fail(`${m.name} has a symbolic dimension '${String(d)}': export it with a fixed batch (dit export --batch-size B)`)));
  };
  const [N, C, S, S2] = dims(x, 4) as [number, number, number, number];
  if (x.type !== "float32") fail(`x is ${x.type}, expected float32`);
  if (C !== vae.latentChannels) fail(`the model takes ${C} latent channels, the VAE makes ${vae.latentChannels}`);
  if (S !== S2 || S !== vae.latentSize) fail(`the model's latents are ${S}×${S2}, the VAE's are ${vae.latentSize}×${vae.latentSize}`);
  const [tn] = dims(t, 1) as [number];
  if (tn !== N || t.type !== "float32") fail(`t must be float32 (${N})`);
  if (y) {
    const [yn] = dims(y, 1) as [number];
    if (yn !== N || y.type !== "int32") fail(`y must be int32 (${N})`);
  }
  const [on, oc, os, os2] = dims(out, 4) as [number, number, number, number];
  if (out.type !== "float32") fail(`out is ${out.type}, expected float32`);
  if (on !== N || os !== S || os2 !== S) fail(`out must be (${N}, ·, ${S}, ${S})`);
  if (oc !== 2 * C) fail(`out has ${oc} channels: the page's samplers need a learn_sigma model (2 × ${C} = ${2 * C} output channels)`);
  return { batch: N, inChannels: C, inputSize: S, outChannels: oc, conditional: y !== undefined };
}
