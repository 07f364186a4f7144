/**
 * The identity of a weights file, for caches and study settings that must
 * refuse other weights: the first 16 hex digits of a SHA-256.
 *
 * For safetensors it covers the tensors only — each name (sorted), dtype,
 * shape and bytes — not `__metadata__` or the layout, so rewriting a file's
 * metadata (dit-ts adding its `dit_ts_sha256`, say) keeps its identity while
 * any change to a weight changes it. Other files: their bytes.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { SafetensorsFile } from "./safetensors.js";

export function weightsKey(path: string): string {
  const h = createHash("sha256");
  if (!path.endsWith(".safetensors")) return h.update(readFileSync(path)).digest("hex").slice(0, 16);
  const f = SafetensorsFile.open(path);
  try {
    for (const name of f.keys().sort()) {
      const t = f.get(name);
      h.update(JSON.stringify([name, t.dtype, t.shape]));
      h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  } finally {
    f.close();
  }
  return h.digest("hex").slice(0, 16);
}
