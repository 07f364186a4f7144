/**
 * Fuzz target: PNG images as image folders and sample sets read them (src/data/image.ts
 * `decodeImage`, pngjs behind a structure check). Seeds: tiny images written by the project's
 * PNG writer (src/sample/png.ts) plus RGBA and 16-bit ones from pngjs. Lies: IHDR sizes that
 * are huge (60000×60000, 2³¹) or zero, unknown colour types / bit depths, chunk lengths past the
 * end, bad CRCs, missing / duplicated / reordered chunks.
 */
import { crc32, deflateSync } from "node:zlib";
import { PNG } from "pngjs";
import { loadImageSummary } from "../image-summary.js";
import { encodePng } from "../../../src/sample/png.js";
import type { FuzzSeed, FuzzTarget } from "../target.js";

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

interface Chunk {
  type: string;
  data: Uint8Array;
}

function chunks(bytes: Uint8Array): Chunk[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Chunk[] = [];
  for (let p = 8; p + 12 <= bytes.length; ) {
    const len = v.getUint32(p, false);
    out.push({ type: Buffer.from(bytes.subarray(p + 4, p + 8)).toString("latin1"), data: bytes.slice(p + 8, p + 8 + len) });
    p += 12 + len;
  }
  return out;
}

/** Chunks back to a PNG, with correct CRCs unless `badCrc`. */
function assemble(cs: Chunk[], badCrc = -1): Uint8Array {
  const parts: Buffer[] = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])];
  cs.forEach((c, i) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(c.data.length, 0);
    head.write(c.type.padEnd(4, " ").slice(0, 4), 4, "latin1");
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE((crc32(Buffer.concat([head.subarray(4), c.data])) ^ (i === badCrc ? 1 : 0)) >>> 0, 0);
    parts.push(head, Buffer.from(c.data), crc);
  });
  return new Uint8Array(Buffer.concat(parts));
}

function boundaries(bytes: Uint8Array): number[] {
  const out = [0, 8, bytes.length];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let p = 8; p + 12 <= bytes.length; p += 12 + v.getUint32(p, false)) out.push(p, p + 8);
  return out;
}

const seedOf = (name: string, b: Uint8Array): FuzzSeed => {
  const bytes = new Uint8Array(b);
  return { name, bytes, boundaries: boundaries(bytes) };
};

function seeds(): FuzzSeed[] {
  const px = (n: number) => Uint8Array.from({ length: n }, (_, k) => (k * 53 + 7) % 256);
  const rgba = new PNG({ width: 3, height: 2 });
  rgba.data.set(px(24));
  const grey16 = new PNG({ width: 4, height: 3, bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false } as never);
  return [
    seedOf("grey-4x4", encodePng(px(16), 4, 4, 1)),
    seedOf("rgb-5x3", encodePng(px(45), 3, 5, 3)),
    seedOf("rgb-16x16", encodePng(px(768), 16, 16, 3)),
    seedOf("rgba-3x2", PNG.sync.write(rgba, { colorType: 6 })),
    seedOf("grey16-4x3", PNG.sync.write(Object.assign(grey16, { data: Buffer.from(new Uint16Array(12).map((_, i) => i * 5000).buffer) }), { colorType: 0, bitDepth: 16, inputColorType: 0, inputHasAlpha: false } as never)),
  ];
}

const rasters = new Map<number, Uint8Array>();
/** A valid zlib stream of an all-black side×side RGB raster (filter bytes 0), built once per size. */
function zerosRaster(side: number): Uint8Array {
  let r = rasters.get(side);
  if (!r) rasters.set(side, (r = new Uint8Array(deflateSync(Buffer.alloc(side * (1 + 3 * side)), { level: 9 }))));
  return r;
}

function lie(seed: FuzzSeed, rand: () => number): { bytes: Uint8Array; what: string } {
  const cs = chunks(seed.bytes);
  const ihdr = cs[0]!.data;
  const v = new DataView(ihdr.buffer, ihdr.byteOffset, ihdr.byteLength);
  const lies: (() => { bytes: Uint8Array; what: string })[] = [
    () => {
      const [w, h] = pick(rand, [[60000, 60000], [2 ** 31 - 1, 1], [1, 2 ** 31 - 1], [0xffffffff, 0xffffffff], [0, 4], [4, 0], [65536, 65536], [100000, 1]]);
      v.setUint32(0, w!, false);
      v.setUint32(4, h!, false);
      return { what: `IHDR ${w}×${h}`, bytes: assemble(cs) };
    },
    () => {
      ihdr[9] = pick(rand, [1, 5, 7, 8, 255, 3]);
      ihdr[8] = pick(rand, [ihdr[8]!, 0, 3, 7, 32, 255, 1, 16]);
      return { what: `colour type ${ihdr[9]}, bit depth ${ihdr[8]}`, bytes: assemble(cs) };
    },
    () => {
      const k = Math.floor(rand() * 3);
      ihdr[10 + k] = pick(rand, [1, 2, 255]);
      return { what: `IHDR ${["compression", "filter", "interlace"][k]} ${ihdr[10 + k]}`, bytes: assemble(cs) };
    },
    () => {
      const i = Math.floor(rand() * cs.length);
      return { what: `bad CRC in ${cs[i]!.type}`, bytes: assemble(cs, i) };
    },
    () => {
      // a chunk length past the end of the file
      const b = seed.bytes.slice();
      const bs = boundaries(b).filter((p) => p >= 8 && p + 8 <= b.length && (p - 8) % 1 === 0);
      const p = pick(rand, bs.length ? bs : [8]);
      new DataView(b.buffer).setUint32(p, pick(rand, [0x7fffffff, 0xffffffff, b.length, 1e6]), false);
      return { what: `chunk length at ${p} past the end`, bytes: b };
    },
    () => {
      const type = pick(rand, ["IDAT", "IEND", "IHDR"]);
      return { what: `no ${type}`, bytes: assemble(cs.filter((c) => c.type !== type)) };
    },
    () => {
      const i = Math.floor(rand() * cs.length);
      const out = cs.slice();
      out.splice(Math.floor(rand() * cs.length), 0, cs[i]!);
      return { what: `duplicated ${cs[i]!.type}`, bytes: assemble(out) };
    },
    () => {
      // IDAT split into many empty chunks, or a zero-length IHDR
      if (rand() < 0.5) return { what: "1000 empty IDAT chunks", bytes: assemble([cs[0]!, ...Array.from({ length: 1000 }, () => ({ type: "IDAT", data: new Uint8Array(0) })), ...cs.slice(1)]) };
      return { what: "IHDR of 0 bytes", bytes: assemble([{ type: "IHDR", data: new Uint8Array(0) }, ...cs.slice(1)]) };
    },
    () => {
      // a palette image with no PLTE, or a PLTE of 0 / 1000 entries
      ihdr[9] = 3;
      ihdr[8] = 8;
      const plte = pick(rand, [undefined, 0, 1, 1000]);
      const out = plte === undefined ? cs : [cs[0]!, { type: "PLTE", data: new Uint8Array(plte * 3) }, ...cs.slice(1)];
      return { what: `palette image, PLTE ${plte ?? "absent"}`, bytes: assemble(out) };
    },
    () => {
      // IDAT holding garbage, a truncated zlib stream, or a bomb of zeros
      const kind = pick(rand, ["garbage", "truncated", "bomb"] as const);
      const idat = cs.find((c) => c.type === "IDAT")!;
      if (kind === "garbage") idat.data = Uint8Array.from({ length: idat.data.length }, () => Math.floor(rand() * 256));
      else if (kind === "truncated") idat.data = idat.data.slice(0, Math.floor(idat.data.length / 2));
      else {
        const side = pick(rand, [1024, 4096]);
        v.setUint32(0, side, false);
        v.setUint32(4, side, false);
        ihdr[8] = 8;
        ihdr[9] = 2;
        idat.data = zerosRaster(side);
      }
      return { what: `IDAT ${kind}`, bytes: assemble(cs) };
    },
  ];
  return pick(rand, lies)();
}

const target: FuzzTarget = {
  format: "png",
  ext: ".png",
  seeds,
  lie,
  load: loadImageSummary,
};

export default target;
