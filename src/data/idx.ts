/**
 * IDX files, the MNIST / Fashion-MNIST container (http://yann.lecun.com/exdb/mnist/),
 * plain or gzipped: a big-endian uint32 magic 0x0000 08 DD (08 = unsigned bytes,
 * DD = number of dimensions), DD big-endian uint32 sizes, then the bytes.
 *
 *   images: magic 0x00000803, N, H, W, then N·H·W pixels (0 = black)
 *   labels: magic 0x00000801, N, then N class ids
 */
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { DatasetError, errorMessage } from "./errors.js";

export const IDX_UBYTE_3D = 0x00000803;
export const IDX_UBYTE_1D = 0x00000801;

/** Raw IDX images: N grey images H×W, row-major uint8. */
export interface IdxImages {
  n: number;
  height: number;
  width: number;
  /** (N, H, W) */
  pixels: Uint8Array;
}

/** Read a file, gunzipping it when it starts with the gzip magic (1f 8b). */
export function readMaybeGzip(path: string): Buffer {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new DatasetError(path, `${path}: cannot read the dataset file (${errorMessage(e)})`, { cause: e });
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      return gunzipSync(buf);
    } catch (e) {
      throw new DatasetError(path, `${path}: corrupt or truncated gzip stream (${errorMessage(e)})`, { cause: e });
    }
  }
  return buf;
}

/** Parse an IDX3 unsigned-byte image file (MNIST layout) already in memory. */
export function parseIdxImageBytes(buf: Uint8Array, where = "IDX file"): IdxImages {
  const expected = "an IDX image file (magic 0x00000803: unsigned bytes, 3 dimensions, e.g. train-images-idx3-ubyte[.gz])";
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = buf.length >= 4 ? view.getUint32(0, false) : undefined;
  if (magic !== undefined && magic !== IDX_UBYTE_3D) {
    const hint = magic === IDX_UBYTE_1D ? " (this is an IDX label file, not images)" : "";
    throw new DatasetError(where, `${where}: magic 0x${magic.toString(16).padStart(8, "0")}${hint}; expected ${expected}`);
  }
  if (buf.length < 16) throw new DatasetError(where, `${where}: ${buf.length} bytes is too short for the 16-byte header of ${expected}`);
  const n = view.getUint32(4, false);
  const h = view.getUint32(8, false);
  const w = view.getUint32(12, false);
  if (n === 0 || h === 0 || w === 0) throw new DatasetError(where, `${where}: empty dataset (${n} images of ${h}×${w})`);
  const need = 16 + n * h * w;
  if (buf.length < need) {
    throw new DatasetError(where, `${where}: truncated: the header declares ${n} images of ${h}×${w} (${need} bytes) but the file has ${buf.length} bytes`);
  }
  if (buf.length > need) throw new DatasetError(where, `${where}: ${buf.length - need} unexpected trailing bytes after ${n} images of ${h}×${w}`);
  return { n, height: h, width: w, pixels: buf.subarray(16, need) };
}

/** Parse an IDX1 unsigned-byte label file (`train-labels-idx1-ubyte`) already in memory. */
export function parseIdxLabelBytes(buf: Uint8Array, where = "IDX label file"): Int32Array {
  const expected = "an IDX label file (magic 0x00000801: unsigned bytes, 1 dimension, e.g. train-labels-idx1-ubyte[.gz])";
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = buf.length >= 4 ? view.getUint32(0, false) : undefined;
  if (magic !== undefined && magic !== IDX_UBYTE_1D) {
    const hint = magic === IDX_UBYTE_3D ? " (this is an IDX image file, not labels)" : "";
    throw new DatasetError(where, `${where}: magic 0x${magic.toString(16).padStart(8, "0")}${hint}; expected ${expected}`);
  }
  if (buf.length < 8) throw new DatasetError(where, `${where}: ${buf.length} bytes is too short for the 8-byte header of ${expected}`);
  const n = view.getUint32(4, false);
  if (buf.length < 8 + n) throw new DatasetError(where, `${where}: truncated: the header declares ${n} labels but the file has ${buf.length - 8} after the header`);
  if (buf.length > 8 + n) throw new DatasetError(where, `${where}: ${buf.length - 8 - n} unexpected trailing bytes after ${n} labels`);
  return Int32Array.from(buf.subarray(8, 8 + n));
}

/** Read an IDX image file (plain or gzipped). */
export function readIdxImageFile(path: string): IdxImages {
  return parseIdxImageBytes(readMaybeGzip(path), path);
}

/** Read an IDX label file (plain or gzipped). */
export function readIdxLabelFile(path: string): Int32Array {
  return parseIdxLabelBytes(readMaybeGzip(path), path);
}

/** Serialise uint8 labels as an IDX1 file (tests, conversions). */
export function encodeIdxLabels(labels: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(8 + labels.length);
  out.writeUInt32BE(IDX_UBYTE_1D, 0);
  out.writeUInt32BE(labels.length, 4);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`encodeIdxLabels: label ${v} at ${i} is not a byte`);
    out[8 + i] = v;
  }
  return out;
}
