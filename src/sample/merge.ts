/**
 * Merging a sharded sample folder into the ADM evaluation `.npz`: check that
 * the set is complete (a valid settings manifest, all N images present, each
 * of the manifest's size), then write `arr_0` (uint8 N×H×W×3, grayscale
 * replicated) and `arr_1` (int32 labels) atomically — the same bytes as
 * `dit sample --npz` writes for the same settings unsharded.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { PNG } from "pngjs";
import { writeNpz } from "../io/npz.js";
import { SampleError } from "./errors.js";
import { MANIFEST } from "./outputs.js";
import { toRgb } from "./pixels.js";
import { imageFileName, readShardManifest, type ShardSettings } from "./shard-manifest.js";

export interface MergeResult {
  dir: string;
  npz: string;
  /** (N, H, W, 3) of arr_0. */
  shape: [number, number, number, number];
  labels: Int32Array;
  settings: ShardSettings;
  /** Temporary files of killed writers that were removed. */
  removedTemp: string[];
}

/** Sorted indices as ranges, "3, 7–9, 12", at most `max` ranges then "…". */
export function formatIndices(ks: readonly number[], max = 20): string {
  const ranges: string[] = [];
  for (let i = 0; i < ks.length; ) {
    let j = i;
    while (j + 1 < ks.length && ks[j + 1] === ks[j]! + 1) j++;
    ranges.push(i === j ? String(ks[i]) : `${ks[i]}–${ks[j]}`);
    i = j + 1;
  }
  return ranges.length > max ? `${ranges.slice(0, max).join(", ")}, …` : ranges.join(", ");
}

/** The image indices of a sharded folder that have no PNG yet (throws SampleError when it has no shard manifest). */
export function missingImages(dir: string): number[] {
  const m = readShardManifest(resolve(dir));
  if (!m) throw new SampleError(`${dir} has no ${MANIFEST}: it is not a sharded sample folder (dit sample --shard writes one)`);
  const have = new Set(readdirSync(dir));
  const out: number[] = [];
  for (let k = 0; k < m.settings.num_samples; k++) if (!have.has(imageFileName(k))) out.push(k);
  return out;
}

/** Decode one of the set's PNGs as (H, W, C) uint8, checking its size. */
function readImage(path: string, [H, W, C]: readonly [number, number, number]): Uint8Array {
  let png: PNG;
  try {
    png = PNG.sync.read(readFileSync(path));
  } catch (e) {
    throw new SampleError(`${path}: not a readable PNG (${e instanceof Error ? e.message : String(e)})`);
  }
  if (png.width !== W || png.height !== H) throw new SampleError(`${path} is ${png.width}×${png.height}, but the set's images are ${W}×${H}`);
  const out = new Uint8Array(H * W * C);
  for (let i = 0; i < H * W; i++) for (let c = 0; c < C; c++) out[i * C + c] = png.data[4 * i + c]!;
  return out;
}

/**
 * Check that the sharded set in `dir` is complete and write `npzPath`
 * (arr_0 uint8 N×H×W×3, arr_1 int32 labels) atomically. Throws SampleError
 * listing the missing indices when it is not. Leftover temporary files of
 * killed shards are removed (all shards are done once the set is complete).
 */
export function mergeShards(dir: string, npzPath: string): MergeResult {
  const root = resolve(dir);
  if (!existsSync(root)) throw new SampleError(`--merge: ${dir} does not exist`);
  const m = readShardManifest(root);
  if (!m) throw new SampleError(`--merge: ${dir} has no ${MANIFEST}: it is not a sharded sample folder (dit sample --shard writes one)`);
  const s = m.settings;
  const N = s.num_samples;
  const missing = missingImages(root);
  if (missing.length > 0) {
    throw new SampleError(`--merge: ${dir} is incomplete: ${missing.length} of ${N} images missing: ${formatIndices(missing)}. Run (or rerun) the shards that make them; finished images are kept`);
  }
  const [H, W, C] = s.image_size;
  const images = new Uint8Array(N * H * W * C); // (N, H, W, C)
  for (let k = 0; k < N; k++) images.set(readImage(join(root, imageFileName(k)), s.image_size), k * H * W * C);
  const labels = Int32Array.from(m.labels);
  const npz = resolve(npzPath);
  writeNpz(npz, { arr_0: { dtype: "uint8", shape: [N, H, W, 3], data: toRgb(images, [N, H, W, C]) }, arr_1: { dtype: "int32", shape: [N], data: labels } });
  const removedTemp: string[] = [];
  for (const f of readdirSync(root)) {
    if (/^\.\d+\.png\.\d+\.tmp$/.test(f)) {
      rmSync(join(root, f), { force: true });
      removedTemp.push(join(root, f));
    }
  }
  return { dir: root, npz, shape: [N, H, W, 3], labels, settings: s, removedTemp };
}
