/**
 * Decoded 8-bit images and their conversions: PNG (pngjs), JPEG (jpeg-js) and
 * binary Netpbm, recognised by their leading bytes (not the file extension),
 * to planar uint8; RGB / grey conversions as PIL's `convert`; uint8 → float32
 * in [-1, 1] as v / 255 · 2 − 1; horizontal mirroring.
 */
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { DatasetError, errorMessage } from "./errors.js";

/** One 8-bit image, planar: data is (C, H, W). */
export interface U8Image {
  channels: number;
  height: number;
  width: number;
  data: Uint8Array;
}

/** The image formats `decodeImage` reads. */
export type ImageFormat = "png" | "jpeg" | "netpbm";

/** The format from the first bytes: PNG signature, JPEG SOI (FF D8 FF), Netpbm P5/P6; undefined otherwise. */
export function sniffImageFormat(buf: Uint8Array): ImageFormat | undefined {
  if (buf.length >= 8 && buf[0] === 0x89 && buf[1] === 0x50 && buf[2] === 0x4e && buf[3] === 0x47) return "png";
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return "jpeg";
  if (buf.length >= 2 && buf[0] === 0x50 && (buf[1] === 0x35 || buf[1] === 0x36)) return "netpbm";
  return undefined;
}

/** Largest image `decodeImage` accepts (pixels), a guard against decompression bombs. */
export const MAX_IMAGE_PIXELS = 100_000_000;

/**
 * Decode a PNG, JPEG or binary PGM/PPM file to planar uint8: grey images (PNG
 * colour types 0/4, PGM) have 1 channel, others 3; alpha is dropped (as PIL's
 * `convert("RGB")`). 16-bit PNG and Netpbm samples are scaled to 8 bits.
 * JPEG goes through jpeg-js, whose IDCT and chroma upsampling are not libjpeg's:
 * pixels may differ from PIL's by a few levels.
 */
export function decodeImage(buf: Uint8Array, where: string): U8Image {
  const format = sniffImageFormat(buf);
  if (format === "png") return decodePng(buf, where);
  if (format === "jpeg") return decodeJpeg(buf, where);
  if (format === "netpbm") return decodeNetpbm(buf, where);
  const head = [...buf.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  throw new DatasetError(where, `${where}: not a PNG, JPEG or binary PGM/PPM image (first bytes ${head || "none"}); other formats must be converted first`);
}

function decodePng(buf: Uint8Array, where: string): U8Image {
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
  } catch (e) {
    throw new DatasetError(where, `${where}: not a readable PNG (${errorMessage(e)})`, { cause: e });
  }
  const { width, height, data } = png;
  const colorType = (png as unknown as { colorType?: number }).colorType;
  const channels = colorType === 0 || colorType === 4 ? 1 : 3;
  const hw = width * height;
  const out = new Uint8Array(channels * hw);
  for (let i = 0; i < hw; i++) for (let c = 0; c < channels; c++) out[c * hw + i] = data[i * 4 + c]!;
  return { channels, height, width, data: out };
}

function decodeJpeg(buf: Uint8Array, where: string): U8Image {
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
  } catch (e) {
    throw new DatasetError(where, `${where}: not a readable JPEG (${errorMessage(e)})`, { cause: e });
  }
  const { width, height, data } = img;
  const hw = width * height;
  if (hw === 0 || data.length !== hw * 3) throw new DatasetError(where, `${where}: JPEG decoded to ${data.length} bytes for ${width}×${height} pixels`);
  const out = new Uint8Array(3 * hw);
  for (let i = 0; i < hw; i++) for (let c = 0; c < 3; c++) out[c * hw + i] = data[i * 3 + c]!;
  return { channels: 3, height, width, data: out };
}

function decodeNetpbm(buf: Uint8Array, where: string): U8Image {
  let pos = 2;
  const isSpace = (b: number | undefined) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0b || b === 0x0c;
  const token = (): number => {
    for (;;) {
      while (pos < buf.length && isSpace(buf[pos])) pos++;
      if (buf[pos] !== 0x23) break;
      while (pos < buf.length && buf[pos] !== 0x0a && buf[pos] !== 0x0d) pos++;
    }
    const start = pos;
    while (pos < buf.length && !isSpace(buf[pos]) && buf[pos] !== 0x23) pos++;
    if (start === pos) throw new DatasetError(where, `${where}: truncated Netpbm header`);
    return Number(String.fromCharCode(...buf.subarray(start, pos)));
  };
  const channels = buf[1] === 0x35 ? 1 : 3;
  const [width, height, maxval] = [token(), token(), token()] as [number, number, number];
  if (![width, height, maxval].every((v) => Number.isInteger(v) && v > 0) || maxval > 65535) {
    throw new DatasetError(where, `${where}: bad Netpbm header (width ${width}, height ${height}, maxval ${maxval})`);
  }
  if (width * height > MAX_IMAGE_PIXELS) throw new DatasetError(where, `${where}: ${width}×${height} is larger than ${MAX_IMAGE_PIXELS} pixels`);
  pos++; // the single whitespace byte before the raster
  const bytes = maxval > 255 ? 2 : 1;
  const hw = width * height;
  const need = hw * channels * bytes;
  if (buf.length - pos < need) throw new DatasetError(where, `${where}: truncated: ${width}×${height}×${channels} pixels need ${need} raster bytes, the file has ${Math.max(0, buf.length - pos)}`);
  const out = new Uint8Array(channels * hw);
  for (let i = 0; i < hw; i++) {
    for (let c = 0; c < channels; c++) {
      const k = pos + (i * channels + c) * bytes;
      const v = bytes === 2 ? (buf[k]! << 8) | buf[k + 1]! : buf[k]!;
      out[c * hw + i] = maxval === 255 ? v : Math.round((v * 255) / maxval);
    }
  }
  return { channels, height, width, data: out };
}

/**
 * To 1 (grey) or 3 (RGB) channels as PIL's `convert`: grey → RGB repeats the
 * plane; RGB → grey is L = (19595 R + 38470 G + 7471 B + 2¹⁵) >> 16 (ITU-R 601-2 luma).
 */
export function toChannels(img: U8Image, channels: 1 | 3): U8Image {
  if (img.channels === channels) return img;
  const hw = img.height * img.width;
  if (img.channels === 1 && channels === 3) {
    const out = new Uint8Array(3 * hw);
    for (let c = 0; c < 3; c++) out.set(img.data, c * hw);
    return { ...img, channels: 3, data: out };
  }
  if (img.channels === 3 && channels === 1) {
    const d = img.data;
    const out = new Uint8Array(hw);
    for (let i = 0; i < hw; i++) out[i] = (19595 * d[i]! + 38470 * d[hw + i]! + 7471 * d[2 * hw + i]! + 0x8000) >>> 16;
    return { ...img, channels: 1, data: out };
  }
  throw new RangeError(`toChannels: cannot convert ${img.channels} channels to ${channels}`);
}

/** uint8 → float32 in [-1, 1]: v / 255 · 2 − 1 (written into `out` at `offset` when given). */
export function toFloat(img: U8Image, out?: Float32Array, offset = 0): Float32Array {
  const dst = out ?? new Float32Array(img.data.length);
  for (let i = 0; i < img.data.length; i++) dst[offset + i] = (img.data[i]! / 255) * 2 - 1;
  return dst;
}

/**
 * Mirror left ↔ right: every row of `width` values reversed, for any planar
 * layout whose last axis is the width ((C, H, W) images or latents, (N, C, H, W) batches).
 * The official recipe flips each training image with probability ½; the trainer draws the coin.
 */
export function flipHorizontal(image: Float32Array, width: number): Float32Array {
  if (!(width > 0) || image.length % width !== 0) throw new RangeError(`flipHorizontal: ${image.length} values are not rows of ${width}`);
  const out = new Float32Array(image.length);
  for (let r = 0; r < image.length; r += width) {
    for (let x = 0; x < width; x++) out[r + x] = image[r + width - 1 - x]!;
  }
  return out;
}
