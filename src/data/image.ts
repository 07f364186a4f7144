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
 * Images up to this many pixels (2 Mpx, e.g. 1448×1448) decode whatever their file size; larger
 * ones need at least one byte of file per pixel (real photos and sample grids have 1–3), so that
 * a small file declaring a huge image is refused before its pixels are allocated.
 */
export const IMAGE_FREE_PIXELS = 2 ** 21;

/** Refuse a declared size the file does not justify (see IMAGE_FREE_PIXELS, MAX_IMAGE_PIXELS). */
function checkImageSize(kind: string, width: number, height: number, fileBytes: number, where: string): void {
  const pixels = width * height;
  if (pixels > MAX_IMAGE_PIXELS) throw new DatasetError(where, `${where}: not a readable ${kind}: it declares ${width}×${height}, more than the ${MAX_IMAGE_PIXELS} pixels this reader accepts`);
  if (pixels > IMAGE_FREE_PIXELS && pixels > fileBytes) {
    throw new DatasetError(
      where,
      `${where}: ${kind} declares ${width}×${height} (${pixels} pixels) in a ${fileBytes}-byte file: images over ${IMAGE_FREE_PIXELS} pixels need at least one byte of file per pixel (a decompression-bomb guard)`,
    );
  }
}

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
  checkPngStructure(buf, where);
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
  if (hw === 0 || data.length !== 4 * hw) throw new DatasetError(where, `${where}: PNG decoded to ${data.length} bytes for ${width}×${height} RGBA pixels`);
  const out = new Uint8Array(channels * hw);
  for (let i = 0; i < hw; i++) for (let c = 0; c < channels; c++) out[c * hw + i] = data[i * 4 + c]!;
  return { channels, height, width, data: out };
}

function decodeJpeg(buf: Uint8Array, where: string): U8Image {
  const pixels = checkJpegStructure(buf, where);
  // jpeg-js's own guards, sized by the frame just checked: ~18 bytes per pixel (coefficients, planes, RGB) + the file
  const maxMemoryUsageInMB = Math.ceil((40 * pixels + buf.length) / 2 ** 20) + 16;
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB });
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

/** Deflate cannot compress better than 1032:1: the most `n` compressed bytes can inflate to. */
function maxInflated(n: number): number {
  return 1032 * n + 1024;
}

/** Valid PNG bit depths by colour type, and the samples per pixel. */
const PNG_COLOR_TYPES: Readonly<Record<number, { depths: number[]; samples: number }>> = {
  0: { depths: [1, 2, 4, 8, 16], samples: 1 },
  2: { depths: [8, 16], samples: 3 },
  3: { depths: [1, 2, 4, 8], samples: 1 },
  4: { depths: [8, 16], samples: 2 },
  6: { depths: [8, 16], samples: 4 },
};

/**
 * Check a PNG's chunk layout and IHDR before pngjs allocates anything: every chunk inside the
 * file, IHDR first and sane (known colour type / bit depth, 1 ≤ W·H ≤ MAX_IMAGE_PIXELS), and
 * IDAT data enough to inflate to the W×H raster it declares (deflate's 1032:1 bound).
 */
function checkPngStructure(buf: Uint8Array, where: string): void {
  const bad = (what: string) => new DatasetError(where, `${where}: not a readable PNG: ${what}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (!sig.every((b, i) => buf[i] === b)) throw bad("the 8-byte signature is damaged");
  let pos = 8;
  let idat = 0;
  let ihdr: { width: number; height: number; depth: number; colorType: number } | undefined;
  let ended = false;
  while (!ended) {
    if (pos + 12 > buf.length) throw bad(`truncated at byte ${pos} of ${buf.length}: no IEND chunk`);
    const length = view.getUint32(pos, false);
    const type = String.fromCharCode(...buf.subarray(pos + 4, pos + 8));
    const shown = JSON.stringify(type);
    if (length > 0x7fffffff || pos + 12 + length > buf.length) {
      throw bad(`chunk ${shown} at byte ${pos} declares ${length} data bytes, past the end of the ${buf.length}-byte file`);
    }
    if (!ihdr && type !== "IHDR") throw bad(`the first chunk is ${shown}, expected IHDR`);
    if (type === "IHDR") {
      if (ihdr) throw bad("a second IHDR chunk");
      if (length !== 13) throw bad(`IHDR has ${length} data bytes, expected 13`);
      ihdr = { width: view.getUint32(pos + 8, false), height: view.getUint32(pos + 12, false), depth: buf[pos + 16]!, colorType: buf[pos + 17]! };
      const ct = PNG_COLOR_TYPES[ihdr.colorType];
      if (!ct) throw bad(`unknown colour type ${ihdr.colorType}`);
      if (!ct.depths.includes(ihdr.depth)) throw bad(`bit depth ${ihdr.depth} is not allowed for colour type ${ihdr.colorType} (allowed: ${ct.depths.join(", ")})`);
      if (buf[pos + 18] !== 0 || buf[pos + 19] !== 0 || buf[pos + 20]! > 1) throw bad(`unknown compression / filter / interlace method ${buf[pos + 18]}/${buf[pos + 19]}/${buf[pos + 20]}`);
    } else if (type === "IDAT") idat += length;
    else if (type === "IEND") ended = true;
    pos += 12 + length;
  }
  const { width, height, depth, colorType } = ihdr!;
  if (width === 0 || height === 0) throw bad(`IHDR declares an empty ${width}×${height} image`);
  checkImageSize("PNG", width, height, buf.length, where);
  const raw = height * (1 + Math.ceil((width * PNG_COLOR_TYPES[colorType]!.samples * depth) / 8));
  if (maxInflated(idat) < raw) {
    throw bad(`IHDR declares ${width}×${height} (${raw} raster bytes) but the IDAT chunks hold ${idat} bytes, which inflate to at most ${maxInflated(idat)}`);
  }
}

/** JPEG frame types jpeg-js decodes: baseline, extended and progressive Huffman DCT. */
const JPEG_DECODED_SOF = new Set([0xc0, 0xc1, 0xc2]);
const JPEG_OTHER_SOF = new Set([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/**
 * Walk a JPEG's markers before jpeg-js allocates anything: every segment inside the file, one
 * frame of a kind jpeg-js decodes, 1 ≤ W·H ≤ MAX_IMAGE_PIXELS, and enough entropy-coded bytes
 * for the frame (a DC scan needs ≥ 1 bit per 8×8 block). Returns W·H.
 */
function checkJpegStructure(buf: Uint8Array, where: string): number {
  const bad = (what: string) => new DatasetError(where, `${where}: not a readable JPEG: ${what}`);
  let pos = 2;
  let frame: { width: number; height: number } | undefined;
  let coded = 0;
  while (pos < buf.length) {
    if (buf[pos] !== 0xff) throw bad(`expected a marker at byte ${pos}, found 0x${buf[pos]!.toString(16)}`);
    while (buf[pos] === 0xff) pos++;
    if (pos >= buf.length) break;
    const m = buf[pos++]!;
    if (m === 0xd9) break; // EOI
    if (m === 0xd8) throw bad(`a second SOI marker at byte ${pos - 2}`);
    if ((m >= 0xd0 && m <= 0xd7) || m === 0x01) continue; // RSTn, TEM: no length
    if (pos + 2 > buf.length) throw bad(`truncated in the length of marker 0xff${m.toString(16)} at byte ${pos - 2}`);
    const length = (buf[pos]! << 8) | buf[pos + 1]!;
    if (length < 2 || pos + length > buf.length) throw bad(`marker 0xff${m.toString(16)} at byte ${pos - 2} declares ${length} bytes, past the end of the ${buf.length}-byte file`);
    if (JPEG_OTHER_SOF.has(m)) throw bad(`frame type SOF${m - 0xc0} (lossless, hierarchical or arithmetic-coded) is not supported; baseline or progressive JPEG only`);
    if (JPEG_DECODED_SOF.has(m)) {
      if (frame) throw bad("more than one frame (SOF marker)");
      if (length < 8) throw bad(`SOF segment of ${length} bytes, expected ≥ 8`);
      frame = { height: (buf[pos + 3]! << 8) | buf[pos + 4]!, width: (buf[pos + 5]! << 8) | buf[pos + 6]! };
    }
    pos += length;
    if (m === 0xda) {
      // entropy-coded data runs to the next marker that is not a stuffed 0xff00 or a restart marker
      const start = pos;
      while (pos < buf.length && !(buf[pos] === 0xff && pos + 1 < buf.length && buf[pos + 1] !== 0 && !(buf[pos + 1]! >= 0xd0 && buf[pos + 1]! <= 0xd7))) pos++;
      coded += pos - start;
    }
  }
  if (!frame) throw bad("no frame header (SOF0/1/2 marker)");
  const { width, height } = frame;
  if (width === 0 || height === 0) throw bad(`the frame declares an empty ${width}×${height} image`);
  checkImageSize("JPEG", width, height, buf.length, where);
  const pixels = width * height;
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  if (8 * coded < blocks) throw bad(`the frame declares ${width}×${height} (${blocks} blocks of 8×8) but the scans hold only ${coded} coded bytes, less than 1 bit per block`);
  return pixels;
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
    if (pos - start > 12) throw new DatasetError(where, `${where}: bad Netpbm header (a ${pos - start}-character number)`);
    return Number(String.fromCharCode(...buf.subarray(start, pos)));
  };
  const channels = buf[1] === 0x35 ? 1 : 3;
  const [width, height, maxval] = [token(), token(), token()] as [number, number, number];
  if (![width, height, maxval].every((v) => Number.isInteger(v) && v > 0) || maxval > 65535) {
    throw new DatasetError(where, `${where}: bad Netpbm header (width ${width}, height ${height}, maxval ${maxval})`);
  }
  checkImageSize("Netpbm", width, height, buf.length, where);
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
