/**
 * Small image datasets for training, read without extra dependencies, as
 * float32 NCHW arrays with pixels scaled to [-1, 1] (v / 255 · 2 − 1):
 *
 * - IDX image files (MNIST / Fashion-MNIST `train-images-idx3-ubyte`, plain
 *   or gzipped): magic 0x00000803 (unsigned bytes, 3 dimensions), then N, H, W
 *   as big-endian uint32, then N·H·W bytes → (N, 1, H, W).
 * - A folder of images, all of one size, in file-name order: PNG (decoded
 *   with pngjs; grayscale → 1 channel, colour → 3, alpha dropped) and binary
 *   Netpbm (`.pgm` P5 → 1 channel, `.ppm` P6 → 3 channels; maxval ≤ 65535).
 *   JPEG would need another codec: convert such images to PNG first.
 *
 * Labelled datasets for DiT training (labels, JPEG, ImageNet-layout folders,
 * ADM's centre crop) are in src/data; the IDX parsing is shared from there.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { DatasetError } from "../data/errors.js";
import { IDX_UBYTE_3D, parseIdxImageBytes, readMaybeGzip } from "../data/idx.js";
import { decodeImage, sniffImageFormat, toFloat } from "../data/image.js";

/** Images (N, C, H, W), float32 in [-1, 1]. */
export interface ImageDataset {
  data: Float32Array;
  shape: [number, number, number, number];
  source: string;
}

/** Parse an IDX3 unsigned-byte image file (MNIST layout) already in memory (parsing in src/data/idx.ts). */
export function parseIdxImages(buf: Uint8Array, where = "IDX file"): ImageDataset {
  const { n, height: h, width: w, pixels } = parseIdxImageBytes(buf, where);
  const data = new Float32Array(n * h * w);
  for (let i = 0; i < data.length; i++) data[i] = (pixels[i]! / 255) * 2 - 1;
  return { data, shape: [n, 1, h, w], source: where };
}

/** Read an IDX image file (`train-images-idx3-ubyte` or its `.gz`). */
export function readIdxImages(path: string): ImageDataset {
  return parseIdxImages(readMaybeGzip(path), path);
}

/** Serialise uint8 images (N, H, W) as an IDX3 file (tests, conversions). */
export function encodeIdxImages(pixels: Uint8Array, n: number, h: number, w: number): Buffer {
  if (pixels.length !== n * h * w) throw new Error(`encodeIdxImages: ${pixels.length} bytes for ${n}×${h}×${w}`);
  const out = Buffer.alloc(16 + pixels.length);
  out.writeUInt32BE(IDX_UBYTE_3D, 0);
  out.writeUInt32BE(n, 4);
  out.writeUInt32BE(h, 8);
  out.writeUInt32BE(w, 12);
  out.set(pixels, 16);
  return out;
}

/** One decoded Netpbm image: channels-first float32 in [-1, 1]. */
export interface NetpbmImage {
  channels: number;
  height: number;
  width: number;
  data: Float32Array;
}

/** Decode a binary PGM (P5) or PPM (P6) image. */
export function parseNetpbm(buf: Uint8Array, where = "image"): NetpbmImage {
  let pos = 0;
  const token = (): string => {
    for (;;) {
      while (pos < buf.length && /\s/.test(String.fromCharCode(buf[pos]!))) pos++;
      if (buf[pos] === 0x23) {
        while (pos < buf.length && buf[pos] !== 0x0a && buf[pos] !== 0x0d) pos++;
        continue;
      }
      break;
    }
    const start = pos;
    while (pos < buf.length && !/\s/.test(String.fromCharCode(buf[pos]!)) && buf[pos] !== 0x23) pos++;
    if (start === pos) throw new DatasetError(where, `${where}: truncated Netpbm header`);
    return String.fromCharCode(...buf.subarray(start, pos));
  };
  const magic = buf.length >= 2 ? String.fromCharCode(buf[0]!, buf[1]!) : "";
  if (magic !== "P5" && magic !== "P6") {
    throw new DatasetError(where, `${where}: not a binary PGM/PPM image (magic '${magic}'; expected P5 or P6)`);
  }
  pos = 2;
  const nums = [token(), token(), token()].map(Number);
  const [width, height, maxval] = nums as [number, number, number];
  if (!nums.every((v) => Number.isInteger(v) && v > 0) || maxval > 65535) throw new DatasetError(where, `${where}: bad Netpbm header (width ${width}, height ${height}, maxval ${maxval})`);
  pos++; // the single whitespace byte before the raster
  const channels = magic === "P5" ? 1 : 3;
  const bytes = maxval > 255 ? 2 : 1;
  const need = width * height * channels * bytes;
  if (buf.length - pos < need) throw new DatasetError(where, `${where}: truncated: ${width}×${height}×${channels} pixels need ${need} raster bytes, the file has ${Math.max(0, buf.length - pos)}`);
  const data = new Float32Array(channels * height * width);
  const hw = height * width;
  for (let i = 0; i < hw; i++) {
    for (let ch = 0; ch < channels; ch++) {
      const k = pos + (i * channels + ch) * bytes;
      const v = bytes === 2 ? (buf[k]! << 8) | buf[k + 1]! : buf[k]!;
      data[ch * hw + i] = (v / maxval) * 2 - 1;
    }
  }
  return { channels, height, width, data };
}

/**
 * Decode a PNG (8- or 16-bit, any colour type) into planar channels in [-1, 1], through the
 * checked decoder of src/data/image.ts (chunk walk and size rules before pngjs allocates).
 */
export function parsePng(buf: Uint8Array, where: string): NetpbmImage {
  if (sniffImageFormat(buf) !== "png") throw new DatasetError(where, `${where}: not a readable PNG (no PNG signature)`);
  const img = decodeImage(buf, where);
  return { channels: img.channels, height: img.height, width: img.width, data: toFloat(img) };
}

const NETPBM = new Set([".pgm", ".ppm", ".pnm"]);
const IMAGES = new Set([...NETPBM, ".png"]);
const NEEDS_CODEC = new Set([".jpg", ".jpeg", ".webp", ".gif", ".bmp"]);

/** Every `.png`/`.pgm`/`.ppm`/`.pnm` image of a folder (sorted by name), all of one size and channel count. */
export function readImageFolder(dir: string): ImageDataset {
  const names = readdirSync(dir).sort();
  const files = names.filter((f) => IMAGES.has(extname(f).toLowerCase()));
  if (files.length === 0) {
    const codec = names.filter((f) => NEEDS_CODEC.has(extname(f).toLowerCase()));
    const why = codec.length
      ? `found ${codec.length} JPEG/WebP/GIF/BMP images (e.g. ${codec[0]}), which this project cannot decode; convert them to PNG`
      : "found none";
    throw new DatasetError(dir, `${dir}: expected PNG or binary PGM (P5) / PPM (P6) images (.png, .pgm, .ppm, .pnm); ${why}`);
  }
  let first: NetpbmImage | undefined;
  let data: Float32Array | undefined;
  files.forEach((f, i) => {
    const path = join(dir, f);
    const img = extname(f).toLowerCase() === ".png" ? parsePng(readFileSync(path), path) : parseNetpbm(readFileSync(path), path);
    if (!first) {
      first = img;
      data = new Float32Array(files.length * img.data.length);
    } else if (img.channels !== first.channels || img.height !== first.height || img.width !== first.width) {
      throw new DatasetError(path, `${path}: ${img.channels}×${img.height}×${img.width}, but ${files[0]} is ${first.channels}×${first.height}×${first.width}; every image must have one size and channel count`);
    }
    data!.set(img.data, i * img.data.length);
  });
  return { data: data!, shape: [files.length, first!.channels, first!.height, first!.width], source: dir };
}

/** A dataset from a path: a folder of PGM/PPM images, or an IDX image file (optionally gzipped). */
export function loadImageDataset(path: string): ImageDataset {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new DatasetError(path, `${path}: no such dataset (expected an IDX image file such as train-images-idx3-ubyte[.gz], or a folder of PGM/PPM images)`);
  }
  if (isDir) {
    for (const name of ["train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"]) {
      if (existsSync(join(path, name))) return readIdxImages(join(path, name));
    }
    return readImageFolder(path);
  }
  return readIdxImages(path);
}

/** Pad (centred, with `value`) to size×size; the extra pixel, if odd, goes below / right. */
export function padToSize(ds: ImageDataset, size: number, value = -1): ImageDataset {
  const [n, c, h, w] = ds.shape;
  if (h > size || w > size) throw new DatasetError(ds.source, `${ds.source}: images are ${h}×${w}, larger than the requested size ${size}`);
  if (h === size && w === size) return ds;
  const top = Math.floor((size - h) / 2);
  const left = Math.floor((size - w) / 2);
  const out = new Float32Array(n * c * size * size).fill(value);
  for (let p = 0; p < n * c; p++) {
    for (let y = 0; y < h; y++) out.set(ds.data.subarray((p * h + y) * w, (p * h + y + 1) * w), (p * size + y + top) * size + left);
  }
  return { data: out, shape: [n, c, size, size], source: ds.source };
}

/**
 * Pad H and W up to multiples of `multiple` (centred; the extra pixel, if
 * odd, goes below / right), filling with `value` (−1 = black, MNIST's background).
 */
export function padToMultiple(ds: ImageDataset, multiple: number, value = -1): ImageDataset {
  const [n, c, h, w] = ds.shape;
  const H = Math.ceil(h / multiple) * multiple;
  const W = Math.ceil(w / multiple) * multiple;
  if (H === h && W === w) return ds;
  const top = Math.floor((H - h) / 2);
  const left = Math.floor((W - w) / 2);
  const out = new Float32Array(n * c * H * W).fill(value);
  for (let p = 0; p < n * c; p++) {
    for (let y = 0; y < h; y++) out.set(ds.data.subarray((p * h + y) * w, (p * h + y + 1) * w), (p * H + y + top) * W + left);
  }
  return { data: out, shape: [n, c, H, W], source: ds.source };
}
