/**
 * Image sets to evaluate, as uint8 (N, H, W, C) read in chunks:
 *
 * - a folder of images (what `dit sample` writes: `000000.png`, … with a
 *   `.dit-sample.json` manifest holding the labels; `grid.png` and hidden
 *   files are ignored);
 * - an ADM-style `.npz`: `arr_0` uint8 N×H×W×C (C = 1 or 3), labels from `arr_1` when present;
 * - a dataset `openImageSource` opens (a Fashion-MNIST IDX folder with a
 *   split, an ImageNet-layout folder), its [-1, 1] floats turned back into
 *   the exact bytes (IDX images padded 28 → 32 as for training).
 *
 * Every set is checked before any network sees it: one size and one mode
 * (grey / RGB) for all images, naming two files that differ.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync, type Dirent } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import { openImageSource, type Split } from "../data/dataset.js";
import { decodeImage, sniffImageFormat } from "../data/image.js";
import { readNpz, type NpyArray } from "../io/npz.js";
import { EvalInputError } from "./errors.js";

/** The sample-folder manifest `dit sample` writes (src/sample/outputs.ts MANIFEST). */
export const SAMPLE_MANIFEST = ".dit-sample.json";
/** Extensions of the image files read from a flat folder. */
export const SAMPLE_IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg", ".pgm", ".ppm"];

/** N images of one size and mode, read on demand. */
export interface ImageSet {
  readonly count: number;
  readonly height: number;
  readonly width: number;
  /** 1 (grey) or 3 (RGB). */
  readonly channels: 1 | 3;
  /** (N) class labels when known (manifest, arr_1, dataset labels), else null. */
  readonly labels: Int32Array | null;
  /** The path it came from (resolved). */
  readonly source: string;
  /** What it is, in one line. */
  readonly description: string;
  /** sha256 hex identifying the contents (content hash, or names + sizes + mtimes for folders). */
  readonly fingerprint: string;
  /** Images start … start + n − 1 as uint8 (n, H, W, C). */
  read(start: number, n: number): Uint8Array;
}

/** [N, H, W, C] of a set. */
export function imageSetShape(set: ImageSet): [number, number, number, number] {
  return [set.count, set.height, set.width, set.channels];
}

function checkRange(set: { count: number }, start: number, n: number): void {
  if (!(Number.isInteger(start) && Number.isInteger(n) && start >= 0 && n >= 0 && start + n <= set.count)) {
    throw new RangeError(`read: images ${start}..${start + n - 1} outside 0..${set.count - 1}`);
  }
}

/** An in-memory set of uint8 (N, H, W, C) images. */
export function inMemoryImageSet(
  images: Uint8Array,
  shape: readonly [number, number, number, number],
  opts: { labels?: Int32Array | null; source?: string; description?: string } = {},
): ImageSet {
  const [n, h, w, c] = shape;
  if (!shape.every((v) => Number.isInteger(v) && v > 0)) throw new EvalInputError(`image set: expected a shape [N, H, W, C] of positive integers, got [${shape.join(", ")}]`);
  if (c !== 1 && c !== 3) throw new EvalInputError(`image set: expected C = 1 (grey) or 3 (RGB) in [N, H, W, C], got [${shape.join(", ")}]`);
  if (images.length !== n * h * w * c) throw new EvalInputError(`image set: shape [${shape.join(", ")}] needs ${n * h * w * c} bytes, got ${images.length}`);
  const labels = opts.labels ?? null;
  if (labels && labels.length !== n) throw new EvalInputError(`image set: ${n} images but ${labels.length} labels`);
  const hash = createHash("sha256").update(JSON.stringify(shape)).update(images);
  if (labels) hash.update(new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength));
  const per = h * w * c;
  return {
    count: n,
    height: h,
    width: w,
    channels: c,
    labels,
    source: opts.source ?? "(memory)",
    description: opts.description ?? `${n} images ${h}×${w}×${c}`,
    fingerprint: hash.digest("hex"),
    read(start, k) {
      checkRange(this, start, k);
      return images.subarray(start * per, (start + k) * per);
    },
  };
}

/** Labels of an `.npz`'s `arr_1`, when it holds N integer labels. */
function npzLabels(arr: NpyArray | undefined, n: number, path: string): Int32Array | null {
  if (!arr) return null;
  if ((arr.dtype !== "int32" && arr.dtype !== "int64" && arr.dtype !== "uint8") || arr.shape.length !== 1 || arr.shape[0] !== n) {
    throw new EvalInputError(`${path}: arr_1 (labels) must be ${n} integers (int64 as ADM writes them, int32 or uint8, shape (${n},)), got ${arr.dtype} (${arr.shape.join(", ")})`);
  }
  if (arr.data instanceof BigInt64Array) {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = arr.data[i]!;
      if (v < 0n || v > 0x7fffffffn) throw new EvalInputError(`${path}: arr_1 (labels) holds ${v} at ${i}, expected a class id ≥ 0`);
      out[i] = Number(v);
    }
    return out;
  }
  return Int32Array.from(arr.data as Int32Array | Uint8Array);
}

/** An `.npz` with `arr_0` uint8 N×H×W×C (C = 1 or 3), labels from `arr_1` when present. */
export function loadNpzImageSet(path: string): ImageSet {
  const arrays = readNpz(path);
  return npzImageSet(arrays, path);
}

/** The image set of arrays already read from an `.npz` (see loadNpzImageSet). */
export function npzImageSet(arrays: Map<string, NpyArray>, path: string): ImageSet {
  const a = arrays.get("arr_0");
  if (!a) throw new EvalInputError(`${path}: no arr_0 (holds ${[...arrays.keys()].join(", ") || "nothing"}); expected arr_0 = uint8 images N×H×W×C as ADM's evaluator reads`);
  if (a.dtype !== "uint8" || a.shape.length !== 4 || (a.shape[3] !== 1 && a.shape[3] !== 3) || a.shape[0] === 0) {
    throw new EvalInputError(`${path}: arr_0 is ${a.dtype} (${a.shape.join(", ")}); expected uint8 N×H×W×C with N ≥ 1 and C = 1 or 3`);
  }
  const shape = a.shape as [number, number, number, number];
  const labels = npzLabels(arrays.get("arr_1"), shape[0], path);
  return inMemoryImageSet(a.data as Uint8Array, shape, {
    labels,
    source: resolve(path),
    description: `${path}: ${shape[0]} images ${shape[1]}×${shape[2]}×${shape[3]} (arr_0)${labels ? ", labels from arr_1" : ""}`,
  });
}

/** Height, width and channels of an image file, from the PNG header when it is one (decoding otherwise). */
function imageHeader(path: string): { h: number; w: number; c: 1 | 3 } {
  const fd = openSync(path, "r");
  const head = new Uint8Array(26);
  let got: number;
  try {
    got = readSync(fd, head, 0, 26, 0);
  } finally {
    closeSync(fd);
  }
  if (sniffImageFormat(head.subarray(0, got)) === "png" && got >= 26 && String.fromCharCode(...head.subarray(12, 16)) === "IHDR") {
    const dv = new DataView(head.buffer);
    const colorType = head[25]!;
    return { w: dv.getUint32(16), h: dv.getUint32(20), c: colorType === 0 || colorType === 4 ? 1 : 3 }; // as decodeImage: grey (+alpha) → 1, else 3
  }
  const img = decodeImage(readFileSync(path), path);
  return { h: img.height, w: img.width, c: img.channels === 1 ? 1 : 3 };
}

/** A directory entry that is a file, or a symbolic link to one (a subset folder of links). */
function isFileEntry(dir: string, e: Dirent): boolean {
  return e.isFile() || (e.isSymbolicLink() && statSync(join(dir, e.name), { throwIfNoEntry: false })?.isFile() === true);
}

/** Image files of a flat folder, in order: numeric names (000123.png) by number, others by name. `grid.png` and hidden files are skipped. */
export function listImageFiles(dir: string): string[] {
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((e) => isFileEntry(dir, e) && !e.name.startsWith(".") && e.name !== "grid.png" && SAMPLE_IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase()))
    .map((e) => e.name);
  const num = (n: string) => (/^\d+$/.test(n.slice(0, n.length - extname(n).length)) ? Number(n.slice(0, n.length - extname(n).length)) : NaN);
  return names.sort((a, b) => {
    const [x, y] = [num(a), num(b)];
    if (!Number.isNaN(x) && !Number.isNaN(y) && x !== y) return x - y;
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

/** Labels from a `dit sample` manifest: labels[i] for file i (by its number); null when any is missing. */
function manifestLabels(dir: string, files: string[]): Int32Array | null {
  const m = join(dir, SAMPLE_MANIFEST);
  if (!existsSync(m)) return null;
  let labels: unknown;
  try {
    labels = (JSON.parse(readFileSync(m, "utf8")) as { labels?: unknown }).labels;
  } catch {
    return null;
  }
  if (!Array.isArray(labels)) return null;
  const out = new Int32Array(files.length);
  for (let i = 0; i < files.length; i++) {
    const stem = files[i]!.slice(0, files[i]!.length - extname(files[i]!).length);
    if (!/^\d+$/.test(stem)) return null;
    const y: unknown = labels[Number(stem)];
    if (typeof y !== "number" || !Number.isInteger(y) || y < 0) return null;
    out[i] = y;
  }
  return out;
}

/**
 * A flat folder of images (PNG, JPEG, PGM/PPM) as an ImageSet, all of one
 * size and mode (checked from the headers before anything is decoded);
 * labels from `.dit-sample.json` when present.
 */
export function openImageFolderSet(dir: string): ImageSet {
  const root = resolve(dir);
  const files = listImageFiles(root);
  if (files.length === 0) throw new EvalInputError(`${dir}: no images (expected ${SAMPLE_IMAGE_EXTENSIONS.join("/")} files such as dit sample's 000000.png; grid.png is ignored)`);
  const first = imageHeader(join(root, files[0]!));
  const hash = createHash("sha256");
  for (const f of files) {
    const p = join(root, f);
    const hd = imageHeader(p);
    if (hd.h !== first.h || hd.w !== first.w || hd.c !== first.c) {
      const mode = (x: { c: number }) => (x.c === 1 ? "grey" : "RGB");
      throw new EvalInputError(
        `${dir}: images of mixed sizes or modes in one set: ${files[0]} is ${first.h}×${first.w} ${mode(first)}, ${f} is ${hd.h}×${hd.w} ${mode(hd)}; every image must have the same size and mode`,
      );
    }
    const st = statSync(p);
    hash.update(`${f}\0${st.size}\0${st.mtimeMs}\n`);
  }
  const labels = manifestLabels(root, files);
  if (labels) hash.update(new Uint8Array(labels.buffer));
  const { h, w, c } = first;
  const per = h * w * c;
  return {
    count: files.length,
    height: h,
    width: w,
    channels: c,
    labels,
    source: root,
    description: `${dir}: ${files.length} images ${h}×${w} ${c === 1 ? "grey" : "RGB"}${labels ? `, labels from ${SAMPLE_MANIFEST}` : ""}`,
    fingerprint: hash.digest("hex"),
    read(start, n) {
      checkRange(this, start, n);
      const out = new Uint8Array(n * per);
      for (let i = 0; i < n; i++) {
        const p = join(root, files[start + i]!);
        const img = decodeImage(readFileSync(p), p); // planar (C, H, W)
        if (img.height !== h || img.width !== w || img.channels !== c) {
          throw new EvalInputError(`${p}: decoded to ${img.height}×${img.width}×${img.channels}, expected ${h}×${w}×${c} like ${files[0]}`);
        }
        const hw = h * w;
        const o = i * per;
        for (let q = 0; q < hw; q++) for (let ch = 0; ch < c; ch++) out[o + q * c + ch] = img.data[ch * hw + q]!;
      }
      return out;
    },
  };
}

export interface DatasetImageSetOptions {
  /** Fashion-MNIST / IDX: train or t10k files (default train); image folders: `<path>/<split>` when present. */
  split?: Split;
  /** S of the data layer (default 32 for IDX, 256 for image folders). */
  imageSize?: number;
}

/** A dataset `openImageSource` opens, as uint8 (N, S, S, C) — the bytes the DiT is trained on. */
export function datasetImageSet(path: string, opts: DatasetImageSetOptions = {}): ImageSet {
  const src = openImageSource(path, { split: opts.split, imageSize: opts.imageSize });
  const [c, h, w] = src.imageShape;
  if (c !== 1 && c !== 3) throw new EvalInputError(`${path}: ${c} channels, expected 1 or 3`);
  const per = h * w * c;
  const hw = h * w;
  return {
    count: src.numImages,
    height: h,
    width: w,
    channels: c,
    labels: src.labels,
    source: resolve(path),
    description: src.description,
    fingerprint: src.fingerprint,
    read(start, n) {
      checkRange(this, start, n);
      const out = new Uint8Array(n * per);
      for (let i = 0; i < n; i++) {
        const x = src.getImage(start + i); // (C, S, S) in [-1, 1], = v / 255 · 2 − 1
        for (let q = 0; q < hw; q++) for (let ch = 0; ch < c; ch++) out[i * per + q * c + ch] = Math.round((x[ch * hw + q]! + 1) * 127.5);
      }
      return out;
    },
  };
}

/** A folder with image files and no sub-folders or IDX files: a sample folder rather than a dataset. */
function isFlatImageFolder(dir: string): boolean {
  const entries = readdirSync(dir, { withFileTypes: true });
  if (entries.some((e) => e.isDirectory() || /idx\d-ubyte/.test(e.name))) return false;
  return entries.some((e) => isFileEntry(dir, e) && SAMPLE_IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase()));
}

/**
 * Open any image set by path: `.npz` → arr_0 (+ arr_1), a flat folder of
 * images → openImageFolderSet, anything else → a dataset (datasetImageSet).
 */
export function openImageSet(path: string, opts: DatasetImageSetOptions = {}): ImageSet {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new EvalInputError(`${path}: no such file or folder; expected a folder of images, an .npz with arr_0, or a dataset`);
  if (st.isFile() && basename(path).toLowerCase().endsWith(".npz")) return loadNpzImageSet(path);
  if (st.isDirectory() && isFlatImageFolder(path)) return openImageFolderSet(path);
  return datasetImageSet(path, opts);
}
