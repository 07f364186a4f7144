/**
 * Labelled image datasets for DiT training, from a path:
 *
 * - a folder of MNIST-style IDX files (`train-images-idx3-ubyte[.gz]` +
 *   `train-labels-idx1-ubyte[.gz]`, `t10k-…` for the test split), such as
 *   Debian's `dataset-fashion-mnist` in /usr/share/datasets/fashion-mnist;
 * - a single IDX image file, with its labels file beside it (`images` →
 *   `labels`, `idx3` → `idx1`, gzipped or not);
 * - an image folder in the ImageNet layout (one sub-folder per class).
 *
 * Images are (C, S, S) float32 in [-1, 1] (v / 255 · 2 − 1). IDX images are
 * centred on an S×S black canvas (default S = 32: 28×28 gets 2 pixels each
 * side, so a VAE's ×8 downsampling divides evenly); image folders go through
 * ADM's centre crop (`centerCropArr`, default S = 256 as the official train.py).
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { DatasetError } from "./errors.js";
import { readIdxImageFile, readIdxLabelFile, type IdxImages } from "./idx.js";
import { ImageFolder } from "./image-folder.js";
import { toFloat, type U8Image } from "./image.js";
import { centerCropArr } from "./resize.js";

/** Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST. */
export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";
/** The Debian package that provides FASHION_MNIST_DIR. */
export const FASHION_MNIST_PACKAGE = "dataset-fashion-mnist";

/** Fashion-MNIST's classes, label 0..9 (github.com/zalandoresearch/fashion-mnist). */
export const FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
/** MNIST's classes: the digits. */
export const MNIST_CLASSES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/** Images and labels in memory. */
export interface LabeledImageDataset {
  /** (N, C, S, S) float32 in [-1, 1]. */
  images: Float32Array;
  /** (N) class ids in 0..numClasses − 1. */
  labels: Int32Array;
  numClasses: number;
  classNames?: string[];
  /** [N, C, S, S] */
  shape: [number, number, number, number];
  /** The files read (paths). */
  source: string;
  /** What was found, in one line (the CLI prints it). */
  description: string;
}

/** A dataset read on demand (large image folders); `LabeledImageDataset` is its in-memory form. */
export interface ImageSource {
  readonly numImages: number;
  /** [C, S, S] of every image. */
  readonly imageShape: [number, number, number];
  /** (N) */
  readonly labels: Int32Array;
  readonly numClasses: number;
  readonly classNames?: string[];
  readonly source: string;
  readonly description: string;
  /** An identity of the files and preprocessing (sha256 hex), to match an interrupted job with its inputs. */
  readonly fingerprint: string;
  /** Image i, (C, S, S) float32 in [-1, 1]. */
  getImage(i: number): Float32Array;
}

export type Split = "train" | "test";
/** How images reach S×S: centred on a black canvas, or ADM's resize + centre crop. */
export type FitMode = "pad" | "center-crop";

export interface OpenDatasetOptions {
  /** S; default 32 for IDX (or the image size rounded up to a multiple of 8 when larger), 256 for image folders. */
  imageSize?: number;
  /** IDX folders: `train-*` or `t10k-*` files (default train). Image folders: uses `<path>/<split>` when it exists (`test` also tries `val`). */
  split?: Split;
  /** Default: "pad" for IDX images that fit, "center-crop" otherwise. */
  fit?: FitMode;
  /** Image folders: 3 (RGB, default, as torchvision) or 1 (grey). IDX images are grey. */
  channels?: 1 | 3;
  /** Class names: a list, or a known dataset; default from the path ("fashion" → Fashion-MNIST, other IDX → digits when labels are 0..9). */
  classNames?: string[] | "fashion-mnist" | "mnist";
}

function missingHint(): string {
  return `Fashion-MNIST is in Debian's package ${FASHION_MNIST_PACKAGE} (apt-get install ${FASHION_MNIST_PACKAGE}), which installs it in ${FASHION_MNIST_DIR}`;
}

const EXPECTED = "a folder of MNIST-style IDX files (train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz]), a single IDX image file with its labels file beside it, or an image folder in the ImageNet layout (one sub-folder of JPEG/PNG images per class)";

/** The IDX image file of a split in a folder, if any: `train-images-idx3-ubyte`, `train-images.idx3-ubyte`, each optionally `.gz`. */
function findIdxImages(dir: string, split: Split): string | undefined {
  const prefix = split === "train" ? "train" : "t10k";
  const names = readdirSync(dir);
  for (const sepChar of ["-", "."]) {
    for (const gz of [".gz", ""]) {
      const name = `${prefix}-images${sepChar}idx3-ubyte${gz}`;
      if (names.includes(name)) return join(dir, name);
    }
  }
  return undefined;
}

/** The labels file beside an IDX image file: images → labels, idx3 → idx1, with or without .gz. */
export function idxLabelsPathFor(imagesPath: string): { found?: string; tried: string[] } {
  const base = basename(imagesPath).replace(/\.gz$/, "");
  if (!/images/.test(base)) return { tried: [] };
  const stem = base.replace("images", "labels").replace("idx3", "idx1");
  const tried = [join(dirname(imagesPath), `${stem}.gz`), join(dirname(imagesPath), stem)];
  return { found: tried.find((p) => existsSync(p)), tried };
}

function resolveClassNames(opt: OpenDatasetOptions["classNames"], path: string, maxLabel: number, idx: boolean): string[] | undefined {
  if (Array.isArray(opt)) return opt;
  if (opt === "fashion-mnist") return FASHION_MNIST_CLASSES;
  if (opt === "mnist") return MNIST_CLASSES;
  if (!idx) return undefined;
  if (/fashion/i.test(resolve(path))) return FASHION_MNIST_CLASSES;
  return maxLabel <= 9 ? MNIST_CLASSES : undefined;
}

function fmtClasses(names: string[] | undefined, n: number): string {
  if (!names) return `${n} classes`;
  const shown = names.length > 10 ? [...names.slice(0, 10), "…"] : names;
  return `${n} classes [${shown.join(", ")}]`;
}

/** v / 255 · 2 − 1 for every byte (as toFloat). */
const U8_TO_FLOAT = Float32Array.from({ length: 256 }, (_, v) => (v / 255) * 2 - 1);

/** IDX images + labels held in memory as bytes; images preprocessed on demand. */
class IdxSource implements ImageSource {
  readonly numImages: number;
  readonly imageShape: [number, number, number];
  readonly labels: Int32Array;
  readonly numClasses: number;
  readonly classNames?: string[];
  readonly source: string;
  readonly description: string;
  readonly fingerprint: string;
  private readonly raw: IdxImages;
  private readonly fit: FitMode;

  constructor(imagesPath: string, labelsPath: string, opts: OpenDatasetOptions, splitName?: Split) {
    const raw = readIdxImageFile(imagesPath);
    const labels = readIdxLabelFile(labelsPath);
    if (labels.length !== raw.n) {
      throw new DatasetError(labelsPath, `${labelsPath}: ${labels.length} labels, but ${imagesPath} has ${raw.n} images; the two files must describe the same images`);
    }
    const maxLabel = labels.reduce((a, b) => Math.max(a, b), 0);
    const classNames = resolveClassNames(opts.classNames, imagesPath, maxLabel, true);
    if (classNames && maxLabel >= classNames.length) {
      throw new DatasetError(labelsPath, `${labelsPath}: label ${maxLabel} is outside the ${classNames.length} class names [${classNames.join(", ")}]`);
    }
    const big = Math.max(raw.height, raw.width);
    const size = opts.imageSize ?? (big <= 32 ? 32 : Math.ceil(big / 8) * 8);
    const fit = opts.fit ?? (big <= size ? "pad" : "center-crop");
    if (fit === "pad" && big > size) {
      throw new DatasetError(imagesPath, `${imagesPath}: images are ${raw.height}×${raw.width}, larger than the requested size ${size}; use a size ≥ ${big} or fit "center-crop"`);
    }
    this.raw = raw;
    this.fit = fit;
    this.numImages = raw.n;
    this.imageShape = [1, size, size];
    this.labels = labels;
    this.numClasses = classNames?.length ?? maxLabel + 1;
    this.classNames = classNames;
    this.source = `${imagesPath} + ${labelsPath}`;
    const kind = classNames === FASHION_MNIST_CLASSES ? "Fashion-MNIST" : classNames === MNIST_CLASSES ? "MNIST-style" : "IDX";
    const how =
      fit === "pad"
        ? raw.height === size && raw.width === size
          ? "no padding"
          : `padded to ${size}×${size} (black, ${Math.floor((size - raw.height) / 2)} px top, ${Math.floor((size - raw.width) / 2)} px left)`
        : `resized and centre-cropped to ${size}×${size} (ADM center_crop_arr)`;
    this.description = `${kind} IDX${splitName ? ` (${splitName} split)` : ""}: ${raw.n} grey images ${raw.height}×${raw.width} → ${how}, ${fmtClasses(classNames, this.numClasses)}, from ${imagesPath} and ${basename(labelsPath)}`;
    const h = createHash("sha256");
    h.update(JSON.stringify({ kind: "idx", n: raw.n, h: raw.height, w: raw.width, size, fit }));
    h.update(raw.pixels);
    h.update(new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength));
    this.fingerprint = h.digest("hex");
  }

  getImage(i: number): Float32Array {
    if (!Number.isInteger(i) || i < 0 || i >= this.numImages) throw new RangeError(`getImage: index ${i} outside 0..${this.numImages - 1}`);
    const { height, width } = this.raw;
    const img: U8Image = { channels: 1, height, width, data: this.raw.pixels.subarray(i * height * width, (i + 1) * height * width) };
    const size = this.imageShape[1];
    if (this.fit !== "pad") return toFloat(centerCropArr(img, size));
    const out = new Float32Array(size * size);
    this.padInto(i, out, 0);
    return out;
  }

  /** toFloat(padCenter(image i, size, 0)) written into out at offset, without intermediate images. */
  padInto(i: number, out: Float32Array, offset: number): void {
    const { height, width, pixels } = this.raw;
    const size = this.imageShape[1];
    out.fill(-1, offset, offset + size * size);
    const top = Math.floor((size - height) / 2);
    const left = Math.floor((size - width) / 2);
    const src = i * height * width;
    for (let y = 0; y < height; y++) {
      const o = offset + (top + y) * size + left;
      const r = src + y * width;
      for (let x = 0; x < width; x++) out[o + x] = U8_TO_FLOAT[pixels[r + x]!]!;
    }
  }

  /** Every image into one (N, 1, S, S) array. */
  loadAll(): Float32Array {
    const per = this.imageShape[1] * this.imageShape[2];
    const out = new Float32Array(this.numImages * per);
    if (this.fit === "pad") for (let i = 0; i < this.numImages; i++) this.padInto(i, out, i * per);
    else for (let i = 0; i < this.numImages; i++) out.set(this.getImage(i), i * per);
    return out;
  }
}

/** An ImageNet-layout folder as an ImageSource. */
class FolderSource implements ImageSource {
  readonly imageShape: [number, number, number];
  readonly numClasses: number;
  readonly classNames: string[];
  readonly source: string;
  readonly description: string;
  readonly fingerprint: string;
  private readonly folder: ImageFolder;

  constructor(root: string, opts: OpenDatasetOptions) {
    const size = opts.imageSize ?? 256;
    const channels = opts.channels ?? 3;
    if (opts.fit === "pad") throw new DatasetError(root, `${root}: image folders are centre-cropped (ADM center_crop_arr); fit "pad" is for IDX images`);
    this.folder = new ImageFolder(root, { imageSize: size, channels });
    const names = resolveClassNames(opts.classNames, root, this.folder.classNames.length - 1, false) ?? this.folder.classNames;
    if (names.length !== this.folder.classNames.length) {
      throw new DatasetError(root, `${root}: ${this.folder.classNames.length} class folders but ${names.length} class names were given`);
    }
    this.imageShape = [channels, size, size];
    this.numClasses = names.length;
    this.classNames = names;
    this.source = root;
    const counts = new Map<string, number>();
    for (const f of this.folder.files) {
      const e = f.slice(f.lastIndexOf(".") + 1).toLowerCase();
      counts.set(e, (counts.get(e) ?? 0) + 1);
    }
    const kinds = [...counts].map(([e, n]) => `${n} .${e}`).join(", ");
    this.description = `image folder (ImageNet layout): ${this.folder.numImages} images (${kinds}) in ${fmtClasses(names, names.length)} (sorted folder order) → ${channels === 3 ? "RGB" : "grey"}, resized and centre-cropped to ${size}×${size} (ADM center_crop_arr), from ${root}`;
    const h = createHash("sha256");
    h.update(JSON.stringify({ kind: "folder", size, channels, classes: this.folder.classNames }));
    for (const f of this.folder.files) h.update(`${f.slice(root.length)}\0${statSync(f).size}\n`);
    this.fingerprint = h.digest("hex");
  }

  get numImages(): number {
    return this.folder.numImages;
  }
  get labels(): Int32Array {
    return this.folder.labels;
  }
  getImage(i: number): Float32Array {
    return this.folder.getImage(i);
  }
}

/** Open a dataset for on-demand reading (see the module comment for what `path` may be). */
export function openImageSource(path: string, opts: OpenDatasetOptions = {}): ImageSource {
  if (opts.imageSize !== undefined && !(Number.isInteger(opts.imageSize) && opts.imageSize > 0)) {
    throw new DatasetError(path, `imageSize must be a positive integer, got ${opts.imageSize}`);
  }
  const split = opts.split ?? "train";
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new DatasetError(path, `${path}: no such file or folder; expected ${EXPECTED}. ${missingHint()}`);
  if (st.isDirectory()) {
    const images = findIdxImages(path, split);
    if (images) {
      const { found, tried } = idxLabelsPathFor(images);
      if (!found) throw new DatasetError(path, `${images}: found the images but not their labels (tried ${tried.join(", ")}). ${missingHint()}`);
      return new IdxSource(images, found, opts, split);
    }
    const other = findIdxImages(path, split === "train" ? "test" : "train");
    if (other) {
      throw new DatasetError(path, `${path}: holds ${basename(other)} but no ${split === "train" ? "train" : "t10k"}-images-idx3-ubyte[.gz] for the ${split} split`);
    }
    const sub = opts.split ? [split, ...(split === "test" ? ["val"] : [])].map((s) => join(path, s)).find((p) => statSync(p, { throwIfNoEntry: false })?.isDirectory()) : undefined;
    const root = sub ?? path;
    const hasSubfolders = readdirSync(root, { withFileTypes: true }).some((e) => e.isDirectory() || e.isSymbolicLink());
    if (!hasSubfolders) {
      throw new DatasetError(path, `${path}: no dataset found: expected ${EXPECTED}. ${missingHint()}`);
    }
    return new FolderSource(root, opts);
  }
  const { found, tried } = idxLabelsPathFor(path);
  if (!found) {
    const why = tried.length ? `tried ${tried.join(", ")}` : "its name has no 'images' to replace by 'labels'";
    throw new DatasetError(path, `${path}: cannot find the labels file beside this IDX image file (${why}); expected e.g. train-labels-idx1-ubyte[.gz] next to train-images-idx3-ubyte[.gz]`);
  }
  return new IdxSource(path, found, opts);
}

/** Read every image of a source into memory. */
export function loadAll(src: ImageSource, onProgress?: (done: number, total: number) => void): LabeledImageDataset {
  const [c, s] = src.imageShape;
  const per = c * s * s;
  let images: Float32Array;
  if (src instanceof IdxSource) {
    images = src.loadAll();
    onProgress?.(src.numImages, src.numImages);
  } else {
    images = new Float32Array(src.numImages * per);
    for (let i = 0; i < src.numImages; i++) {
      images.set(src.getImage(i), i * per);
      onProgress?.(i + 1, src.numImages);
    }
  }
  return { images, labels: src.labels, numClasses: src.numClasses, classNames: src.classNames, shape: [src.numImages, c, s, s], source: src.source, description: src.description };
}

/**
 * Open a labelled dataset and read it into memory: (N, C, S, S) images in
 * [-1, 1] and (N) labels. Large image folders: `openImageSource` reads on demand.
 */
export function openDataset(path: string = FASHION_MNIST_DIR, opts: OpenDatasetOptions = {}): LabeledImageDataset {
  return loadAll(openImageSource(path, opts));
}

/** An in-memory dataset as an ImageSource (e.g. for `extractLatents`). */
export function inMemorySource(ds: LabeledImageDataset): ImageSource {
  const [n, c, s] = ds.shape;
  const per = c * s * s;
  if (ds.images.length !== n * per || ds.labels.length !== n) {
    throw new DatasetError(ds.source, `${ds.source}: ${ds.images.length} image values and ${ds.labels.length} labels for shape [${ds.shape}]`);
  }
  const h = createHash("sha256");
  h.update(JSON.stringify({ kind: "memory", shape: ds.shape }));
  h.update(new Uint8Array(ds.images.buffer, ds.images.byteOffset, ds.images.byteLength));
  h.update(new Uint8Array(ds.labels.buffer, ds.labels.byteOffset, ds.labels.byteLength));
  const fingerprint = h.digest("hex");
  return {
    numImages: n,
    imageShape: [c, s, s],
    labels: ds.labels,
    numClasses: ds.numClasses,
    classNames: ds.classNames,
    source: ds.source,
    description: ds.description,
    fingerprint,
    getImage: (i) => ds.images.slice(i * per, (i + 1) * per),
  };
}
