/**
 * IDX files, the MNIST / Fashion-MNIST container (http://yann.lecun.com/exdb/mnist/),
 * plain or gzipped: a big-endian uint32 magic 0x0000 08 DD (08 = unsigned bytes,
 * DD = number of dimensions), DD big-endian uint32 sizes, then the bytes.
 *
 *   images: magic 0x00000803, N, H, W, then N·H·W pixels (0 = black)
 *   labels: magic 0x00000801, N, then N class ids
 */
import { readFileSync } from "node:fs";
import { constants as zlibConstants, gunzipSync } from "node:zlib";
import { DatasetError, errorMessage } from "./errors.js";

export const IDX_UBYTE_3D = 0x00000803;
export const IDX_UBYTE_1D = 0x00000801;
/** The largest IDX file (inflated) this reader accepts: 2 GiB. */
export const MAX_IDX_BYTES = 2 ** 31;

/** Raw IDX images: N grey images H×W, row-major uint8. */
export interface IdxImages {
  n: number;
  height: number;
  width: number;
  /** (N, H, W) */
  pixels: Uint8Array;
}

/**
 * Read an IDX file, gunzipping it when it starts with the gzip magic (1f 8b). A gzipped file is
 * inflated only as far as its IDX header declares (see `gunzipIdx`).
 */
export function readMaybeGzip(path: string): Buffer {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new DatasetError(path, `${path}: cannot read the dataset file (${errorMessage(e)})`, { cause: e });
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return gunzipIdx(buf, path);
  return buf;
}

/** IDX element sizes by type code (the third magic byte). */
const IDX_TYPE_BYTES: Readonly<Record<number, number>> = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 };

/**
 * A gzipped IDX file may declare at most this many times its own size (real datasets: 1.8×
 * Fashion-MNIST, 4.7× MNIST) once past `IDX_GZIP_FREE_BYTES`; more is refused as a likely
 * decompression bomb before anything is inflated (gunzip such a file first: a plain IDX file
 * is justified by its own size).
 */
export const MAX_IDX_GZIP_RATIO = 7;
/** Inflated sizes up to this are accepted whatever the ratio: 16 MiB. */
export const IDX_GZIP_FREE_BYTES = 16 * 2 ** 20;

function maxInflatedBytes(gzBytes: number): number {
  return Math.max(IDX_GZIP_FREE_BYTES, MAX_IDX_GZIP_RATIO * gzBytes);
}

/**
 * The total length an IDX header declares (header + elements), or undefined when `head` does not
 * start with a valid IDX magic (0x0000, a known type, ≥ 1 dimension) or is shorter than its header.
 */
export function idxDeclaredLength(head: Uint8Array): number | undefined {
  if (head.length < 4 || head[0] !== 0 || head[1] !== 0) return undefined;
  const size = IDX_TYPE_BYTES[head[2]!];
  const dims = head[3]!;
  if (size === undefined || dims === 0 || head.length < 4 + 4 * dims) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let n = size;
  for (let d = 0; d < dims; d++) n *= view.getUint32(4 + 4 * d, false);
  return 4 + 4 * dims + n;
}

/** The most a header peek inflates: 1 MiB. */
const PEEK_BYTES = 2 ** 20;

/**
 * The first inflated bytes of a gzip file, enough for an IDX header (≥ 1 KiB, or the whole
 * stream when shorter), inflating growing prefixes of the file and never more than 1 MiB at once
 * (a prefix whose output overflows is narrowed by bisection).
 */
function gunzipHead(buf: Buffer, corrupt: (e: unknown) => DatasetError): Buffer {
  const inflate = (n: number): Buffer | undefined => {
    try {
      return gunzipSync(buf.subarray(0, n), { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: PEEK_BYTES });
    } catch (e) {
      if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") return undefined;
      throw corrupt(e);
    }
  };
  let lo = 0;
  for (let prefix = 1024; ; prefix *= 4) {
    const n = Math.min(prefix, buf.length);
    const out = inflate(n);
    if (out === undefined) {
      // inflate(lo) fits, inflate(n) overflows: find the longest prefix that fits (its output holds ≫ 1 KiB)
      let a = lo;
      let b = n;
      let best: Buffer = Buffer.alloc(0);
      while (b - a > 1) {
        const mid = Math.floor((a + b) / 2);
        const r = inflate(mid);
        if (r === undefined) b = mid;
        else [a, best] = [mid, r];
      }
      return best;
    }
    if (idxDeclaredLength(out) !== undefined || out.length >= 1024 || n >= buf.length) return out;
    lo = n;
  }
}

/**
 * Gunzip an IDX file without trusting it: inflate a small prefix first to read the IDX header,
 * then inflate at most the length that header declares (+1 byte, to notice trailing data),
 * refusing a declared length the gzip file does not justify (`MAX_IDX_GZIP_RATIO`). A gzip
 * bomb is refused after the declared bytes, never inflated whole.
 */
function gunzipIdx(buf: Buffer, path: string): Buffer {
  const corrupt = (e: unknown) => new DatasetError(path, `${path}: corrupt or truncated gzip stream (${errorMessage(e)})`, { cause: e });
  const head = gunzipHead(buf, corrupt);
  const declared = idxDeclaredLength(head);
  // not an IDX header (or a stream shorter than one): the parser names what is wrong from these bytes
  if (declared === undefined) return head;
  const limit = Math.min(maxInflatedBytes(buf.length), MAX_IDX_BYTES);
  if (declared > limit) {
    throw new DatasetError(
      path,
      `${path}: the IDX header declares ${declared} bytes, more than ${
        declared > MAX_IDX_BYTES ? `the ${MAX_IDX_BYTES}-byte limit of this reader` : `the ${limit} a ${buf.length}-byte gzip file is trusted with (${MAX_IDX_GZIP_RATIO}× its size, at least ${IDX_GZIP_FREE_BYTES}): a likely decompression bomb; gunzip it first to read it anyway`
      }`,
    );
  }
  try {
    return gunzipSync(buf, { maxOutputLength: declared + 1 });
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw new DatasetError(path, `${path}: the gzip stream inflates to more than the ${declared} bytes its IDX header declares (trailing data or a decompression bomb)`, { cause: e });
    }
    throw corrupt(e);
  }
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
