/**
 * Resizing uint8 images exactly as Pillow does (`Image.resize`, libImaging/Resample.c,
 * Pillow ≥ 7 two-pass convolution), by hand: no pure-JS package reproduces PIL's
 * kernels and rounding, and the official DiT preprocessing is defined by them.
 *
 * Each axis is resampled separately (horizontal pass first, then vertical) with
 *
 *   scale = in / out,  fs = max(scale, 1)  (the kernel is stretched when downscaling: antialiasing)
 *   out[x] = Σ_j in[j] · K((j − c + ½) / fs) / Σ_j K(…),   c = (x + ½) · scale,
 *            j ∈ [trunc(c − s·fs + ½), trunc(c + s·fs + ½)) ∩ [0, in)
 *
 * with weights rounded to 22-bit fixed point and the sum rounded and clipped to
 * 0..255 per pass (PIL's `normalize_coeffs_8bpc` / `clip8`), so results are the
 * same integers as PIL's for 8-bit images. Kernels: BOX (support ½) and BICUBIC
 * (Keys' cubic, a = −0.5, support 2).
 *
 * `centerCropArr` is ADM's `center_crop_arr` (guided_diffusion/image_datasets.py),
 * which the official DiT `train.py` uses.
 */
import type { U8Image } from "./image.js";

export type ResampleFilter = "box" | "bicubic";

interface Kernel {
  support: number;
  weight(x: number): number;
}

const KERNELS: Record<ResampleFilter, Kernel> = {
  box: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bicubic: {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

const PRECISION_BITS = 32 - 8 - 2;

/** Per output pixel: first input index, tap count and fixed-point weights (PIL's precompute_coeffs + normalize_coeffs_8bpc). */
function coefficients(inSize: number, outSize: number, k: Kernel): { start: Int32Array; count: Int32Array; ksize: number; w: Int32Array } {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = k.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const w = new Int32Array(outSize * ksize);
  const pre = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      pre[x] = k.weight((x + xmin - center + 0.5) * ss);
      ww += pre[x]!;
    }
    for (let x = 0; x < xmax; x++) {
      const v = (ww !== 0 ? pre[x]! / ww : pre[x]!) * (1 << PRECISION_BITS);
      w[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v) : Math.trunc(0.5 + v);
    }
    start[xx] = xmin;
    count[xx] = Math.max(0, xmax);
  }
  return { start, count, ksize, w };
}

function clip8(ss: number): number {
  if (ss >= 1 << (PRECISION_BITS + 8)) return 255;
  if (ss <= 0) return 0;
  return ss >> PRECISION_BITS;
}

/** One plane (H, W) → (H, outW), resampled along rows. */
function horizontal(src: Uint8Array, h: number, w: number, outW: number, k: Kernel): Uint8Array {
  const { start, count, ksize, w: kk } = coefficients(w, outW, k);
  const out = new Uint8Array(h * outW);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let xx = 0; xx < outW; xx++) {
      let ss = 1 << (PRECISION_BITS - 1);
      const s = row + start[xx]!;
      const o = xx * ksize;
      for (let x = 0; x < count[xx]!; x++) ss += src[s + x]! * kk[o + x]!;
      out[y * outW + xx] = clip8(ss);
    }
  }
  return out;
}

/** One plane (H, W) → (outH, W), resampled along columns. */
function vertical(src: Uint8Array, h: number, w: number, outH: number, k: Kernel): Uint8Array {
  const { start, count, ksize, w: kk } = coefficients(h, outH, k);
  const out = new Uint8Array(outH * w);
  for (let yy = 0; yy < outH; yy++) {
    const o = yy * ksize;
    const s = start[yy]!;
    for (let x = 0; x < w; x++) {
      let ss = 1 << (PRECISION_BITS - 1);
      for (let y = 0; y < count[yy]!; y++) ss += src[(s + y) * w + x]! * kk[o + y]!;
      out[yy * w + x] = clip8(ss);
    }
  }
  return out;
}

/** PIL's `image.resize((width, height), resample=filter)` for 8-bit planar images (each channel independently). */
export function resize(img: U8Image, width: number, height: number, filter: ResampleFilter): U8Image {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new RangeError(`resize: bad target size ${width}×${height}`);
  if (width === img.width && height === img.height) return { ...img, data: img.data.slice() };
  const k = KERNELS[filter];
  const plane = img.height * img.width;
  const out = new Uint8Array(img.channels * width * height);
  for (let c = 0; c < img.channels; c++) {
    let p = img.data.subarray(c * plane, (c + 1) * plane);
    let w = img.width;
    if (width !== img.width) {
      p = horizontal(p, img.height, img.width, width, k);
      w = width;
    }
    if (height !== img.height) p = vertical(p, img.height, w, height, k);
    out.set(p, c * width * height);
  }
  return { channels: img.channels, height, width, data: out };
}

/** Python's round(): to the nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * ADM's `center_crop_arr(pil_image, image_size)`, used by the official DiT `train.py`:
 *
 *   while min(W, H) ≥ 2·size: halve (W // 2, H // 2) with BOX
 *   scale = size / min(W, H);  resize to (round(W·scale), round(H·scale)) with BICUBIC
 *   crop size×size at ((H' − size) // 2, (W' − size) // 2)
 */
export function centerCropArr(img: U8Image, size: number): U8Image {
  let cur = img;
  while (Math.min(cur.width, cur.height) >= 2 * size) {
    cur = resize(cur, Math.floor(cur.width / 2), Math.floor(cur.height / 2), "box");
  }
  const scale = size / Math.min(cur.width, cur.height);
  cur = resize(cur, roundHalfEven(cur.width * scale), roundHalfEven(cur.height * scale), "bicubic");
  return crop(cur, Math.floor((cur.height - size) / 2), Math.floor((cur.width - size) / 2), size, size);
}

/** The (h, w) window at (top, left). */
export function crop(img: U8Image, top: number, left: number, h: number, w: number): U8Image {
  if (top < 0 || left < 0 || top + h > img.height || left + w > img.width) {
    throw new RangeError(`crop: window ${h}×${w} at (${top}, ${left}) is outside the ${img.height}×${img.width} image`);
  }
  const out = new Uint8Array(img.channels * h * w);
  for (let c = 0; c < img.channels; c++) {
    for (let y = 0; y < h; y++) {
      const s = (c * img.height + top + y) * img.width + left;
      out.set(img.data.subarray(s, s + w), (c * h + y) * w);
    }
  }
  return { channels: img.channels, height: h, width: w, data: out };
}

/** Centre an image on a size×size canvas filled with `value` (0 = black); the odd pixel, if any, goes below / right. */
export function padCenter(img: U8Image, size: number, value = 0): U8Image {
  if (img.height > size || img.width > size) throw new RangeError(`padCenter: a ${img.height}×${img.width} image does not fit in ${size}×${size}`);
  const top = Math.floor((size - img.height) / 2);
  const left = Math.floor((size - img.width) / 2);
  const out = new Uint8Array(img.channels * size * size).fill(value);
  for (let c = 0; c < img.channels; c++) {
    for (let y = 0; y < img.height; y++) {
      const s = (c * img.height + y) * img.width;
      out.set(img.data.subarray(s, s + img.width), (c * size + top + y) * size + left);
    }
  }
  return { channels: img.channels, height: size, width: size, data: out };
}
