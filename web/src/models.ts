/**
 * The page's models: the manifest `web:build` writes (models/manifest.json),
 * fetching graphs once into the Cache API, and checking a user's `dit export`
 * graph against the VAE before it is used.
 */
import { ModelError } from "./graph-check.js";
import type { Manifest } from "./manifest.js";

export { checkDiTGraph, ModelError, type DiTGraphInfo, type IoMeta, type VaeGeometry } from "./graph-check.js";
export type { GraphEntry, Manifest } from "./manifest.js";

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

