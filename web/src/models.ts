/**
 * The page's models: the manifest `web:build` writes (models/manifest.json),
 * fetching graphs once into the Cache API, and checking a user's `dit export`
 * graph against the VAE before it is used.
 */
import type { DiTConfig } from "../../src/model/config.js";
import { ModelError, type VaeGeometry } from "./graph-check.js";

export { checkDiTGraph, ModelError, type DiTGraphInfo, type IoMeta, type VaeGeometry } from "./graph-check.js";

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
  vae: VaeGeometry & {
    /** Decoder graph: input z (batch, latentChannels, latentSize, latentSize) unscaled latents → image (batch, C, H, W). */
    graph: GraphEntry;
    scalingFactor: number;
    /** Decoded image (H, W, C). */
    image: [number, number, number];
  };
  /** File name of the class names (a JSON array of strings). */
  classes: string;
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

