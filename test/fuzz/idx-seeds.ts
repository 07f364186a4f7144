/**
 * Seeds and lies shared by the IDX fuzz targets (targets/idx.ts, targets/idx-gz.ts): tiny
 * MNIST-layout image and label files built in memory (u8, 3 images), a slice of the real
 * Fashion-MNIST test set when it is installed, and IDX headers that lie.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { FASHION_MNIST_DIR } from "../../src/data/dataset.js";
import { encodeIdxLabels, parseIdxImageBytes, parseIdxLabelBytes, readMaybeGzip } from "../../src/data/idx.js";
import { encodeIdxImages } from "../../src/io/datasets.js";
import type { FuzzSeed } from "./target.js";

const int = (rand: () => number, n: number): number => Math.floor(rand() * n);
export const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[int(rand, xs.length)]!;

/** Header end and record boundaries of an IDX file (images: every image; labels: the label block). */
export function idxBoundaries(bytes: Uint8Array): number[] {
  const dims = bytes[3] ?? 0;
  const head = 4 + 4 * dims;
  const out = new Set([0, 4, head, bytes.length]);
  for (let d = 0; d <= dims; d++) out.add(4 + 4 * d);
  if (dims === 3) {
    const v = new DataView(bytes.buffer, bytes.byteOffset);
    const per = v.getUint32(8, false) * v.getUint32(12, false);
    for (let p = head; per > 0 && p < bytes.length; p += per) out.add(p);
  }
  return [...out].sort((a, b) => a - b);
}

function idxSeed(name: string, buf: Uint8Array): FuzzSeed {
  const bytes = new Uint8Array(buf); // a plain copy: Buffer#slice would share memory with the seed
  return { name, bytes, boundaries: idxBoundaries(bytes) };
}

/** Raw (not gzipped) IDX seeds. */
export function idxSeeds(): FuzzSeed[] {
  const px = (n: number, h: number, w: number) => Uint8Array.from({ length: n * h * w }, (_, k) => (k * 37 + 11) % 256);
  const seeds = [
    idxSeed("images-3x4x4", encodeIdxImages(px(3, 4, 4), 3, 4, 4)),
    idxSeed("images-3x28x28", encodeIdxImages(px(3, 28, 28), 3, 28, 28)),
    idxSeed("labels-3", encodeIdxLabels([7, 0, 9])),
  ];
  const dir = FASHION_MNIST_DIR;
  const imgs = join(dir, "t10k-images-idx3-ubyte.gz");
  const labs = join(dir, "t10k-labels-idx1-ubyte.gz");
  if (existsSync(imgs) && existsSync(labs)) {
    // a slice of the real test set: the first 4 images and labels
    const all = parseIdxImageBytes(gunzipSync(readFileSync(imgs)), imgs);
    const labels = parseIdxLabelBytes(readMaybeGzip(labs), labs);
    seeds.push(idxSeed("fashion-t10k-4-images", encodeIdxImages(all.pixels.subarray(0, 4 * 784), 4, 28, 28)));
    seeds.push(idxSeed("fashion-t10k-4-labels", encodeIdxLabels(labels.subarray(0, 4))));
  }
  return seeds;
}

/** IDX headers and bodies that lie: unknown magic / dtype, 0 or 255 dimensions, overflowing or 1e12 sizes, short or long data. */
export function idxLie(seed: FuzzSeed, rand: () => number): { bytes: Uint8Array; what: string } {
  const src = seed.bytes;
  const dims = src[3]!;
  const body = src.subarray(4 + 4 * dims);
  const header = (magic: number[], sizes: number[], data: Uint8Array = body) => {
    const out = new Uint8Array(4 + 4 * sizes.length + data.length);
    out.set(magic, 0);
    const v = new DataView(out.buffer);
    sizes.forEach((s, i) => v.setUint32(4 + 4 * i, s >>> 0, false));
    out.set(data, 4 + 4 * sizes.length);
    return out;
  };
  const sizes = Array.from({ length: dims }, (_, i) => new DataView(src.buffer, src.byteOffset).getUint32(4 + 4 * i, false));
  const lies: (() => { bytes: Uint8Array; what: string })[] = [
    () => {
      const t = pick(rand, [0x00, 0x01, 0x07, 0x0a, 0x0f, 0x10, 0xff, 0x09, 0x0b, 0x0c, 0x0d, 0x0e]);
      return { what: `dtype code 0x${t.toString(16)}`, bytes: header([0, 0, t, dims], sizes) };
    },
    () => {
      const m = pick(rand, [[1, 0], [0, 1], [0xff, 0xff], [0x1f, 0x8b]]);
      return { what: `magic prefix ${m}`, bytes: header([m[0]!, m[1]!, 8, dims], sizes) };
    },
    () => {
      const d = pick(rand, [0, 255, 2, 4, dims === 3 ? 1 : 3]);
      const s = Array.from({ length: Math.min(d, 255) }, (_, i) => sizes[i] ?? 3);
      return { what: `${d} dimensions`, bytes: header([0, 0, 8, d], d === 255 ? s.slice(0, 2) : s) };
    },
    () => {
      const s = pick(rand, [[0xffffffff, 0xffffffff, 0xffffffff], [65536, 65536, 65536], [1e6, 1e3, 1e3], [2 ** 31, 2, 1], [1e12 / 784, 28, 28]]);
      return { what: `sizes ${s.map((x) => Math.floor(x)).join("×")} (overflow / 1e12)`, bytes: header([0, 0, 8, dims], dims === 3 ? s.map(Math.floor) : [Math.floor(s[0]! * s[1]! * s[2]!) >>> 0]) };
    },
    () => {
      const i = int(rand, dims);
      const s = sizes.slice();
      s[i] = pick(rand, [0, 0xffffffff, 1e9, 2 ** 31, s[i]! + 1, Math.max(0, s[i]! - 1)]);
      return { what: `size ${i} = ${s[i]}`, bytes: header([0, 0, 8, dims], s) };
    },
    () => {
      const cut = 1 + int(rand, Math.max(1, body.length));
      return { what: `data ${cut} bytes shorter than declared`, bytes: header([0, 0, 8, dims], sizes, body.subarray(0, body.length - cut)) };
    },
    () => {
      const extra = 1 + int(rand, 64);
      const data = new Uint8Array(body.length + extra);
      data.set(body);
      return { what: `${extra} bytes longer than declared`, bytes: header([0, 0, 8, dims], sizes, data) };
    },
    () => ({ what: "header only", bytes: header([0, 0, 8, dims], sizes, new Uint8Array(0)) }),
    () => ({ what: "labels ↔ images magic swapped", bytes: header([0, 0, 8, dims === 3 ? 1 : 3], dims === 3 ? [sizes[0]!] : [sizes[0]!, 1, 1], body) }),
  ];
  return pick(rand, lies)();
}

/** Load an IDX file (plain or gzipped) fully with the project's reader: images or labels by its magic. */
export function loadIdx(path: string): { kind: string; n: number; sum: number } {
  const buf = readMaybeGzip(path);
  if (buf[3] === 1) {
    const labels = parseIdxLabelBytes(buf, path);
    return { kind: "labels", n: labels.length, sum: labels.reduce((a, b) => a + b, 0) };
  }
  const img = parseIdxImageBytes(buf, path);
  let sum = 0;
  for (const p of img.pixels) sum += p;
  return { kind: "images", n: img.n, sum };
}
