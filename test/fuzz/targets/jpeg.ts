/**
 * Fuzz target: JPEG images as image folders read them (src/data/image.ts `decodeImage`:
 * a marker walk, then jpeg-js with `maxResolutionInMP` / `maxMemoryUsageInMB`). Seeds: tiny
 * images encoded with jpeg-js. Lies: SOF sizes that are huge (60000×60000) or zero, segment
 * lengths past the end, unsupported frame types, bad component counts and sampling factors,
 * bad table specs, duplicated frames, truncated scans, missing EOI.
 */
import jpeg from "jpeg-js";
import { loadImageSummary } from "../image-summary.js";
import type { FuzzSeed, FuzzTarget } from "../target.js";

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

interface Segment {
  /** Offset of the 0xFF of the marker. */
  at: number;
  marker: number;
  /** Offset just after the segment (length bytes included), or after the marker for standalone ones. */
  end: number;
}

/** The marker segments of a JPEG, up to the first SOS (the scan data follows it). */
function segments(b: Uint8Array): Segment[] {
  const out: Segment[] = [{ at: 0, marker: 0xd8, end: 2 }];
  for (let p = 2; p + 4 <= b.length && b[p] === 0xff; ) {
    const marker = b[p + 1]!;
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    out.push({ at: p, marker, end: p + 2 + len });
    if (marker === 0xda) break;
    p += 2 + len;
  }
  return out;
}

function seedOf(name: string, width: number, height: number, quality: number): FuzzSeed {
  const data = Buffer.from(Uint8Array.from({ length: width * height * 4 }, (_, k) => (k % 4 === 3 ? 255 : (k * 29 + Math.floor(k / (4 * width)) * 41) % 256)));
  const bytes = new Uint8Array(jpeg.encode({ data, width, height }, quality).data);
  const bs = new Set([0, 2, bytes.length - 2, bytes.length]);
  for (const s of segments(bytes)) bs.add(s.at).add(s.end);
  return { name, bytes, boundaries: [...bs].sort((a, b) => a - b) };
}

function seeds(): FuzzSeed[] {
  return [seedOf("rgb-8x8-q90", 8, 8, 90), seedOf("rgb-17x9-q50", 17, 9, 50), seedOf("rgb-32x32-q75", 32, 32, 75)];
}

function lie(seed: FuzzSeed, rand: () => number): { bytes: Uint8Array; what: string } {
  const b = seed.bytes.slice();
  const segs = segments(b);
  const sof = segs.find((s) => s.marker === 0xc0 || s.marker === 0xc2)!;
  const sos = segs.find((s) => s.marker === 0xda)!;
  const lies: (() => { bytes: Uint8Array; what: string })[] = [
    () => {
      const [w, h] = pick(rand, [[60000, 60000], [65535, 65535], [0, 8], [8, 0], [0, 0], [16384, 16384], [1024, 1024]]);
      b[sof.at + 5] = h! >> 8;
      b[sof.at + 6] = h! & 0xff;
      b[sof.at + 7] = w! >> 8;
      b[sof.at + 8] = w! & 0xff;
      return { what: `SOF ${w}×${h}`, bytes: b };
    },
    () => {
      const s = pick(rand, segs.slice(1));
      const len = pick(rand, [0, 1, 0xffff, b.length, 2]);
      b[s.at + 2] = len >> 8;
      b[s.at + 3] = len & 0xff;
      return { what: `segment 0xff${s.marker.toString(16)} length ${len}`, bytes: b };
    },
    () => {
      b[sof.at + 1] = pick(rand, [0xc1, 0xc2, 0xc3, 0xc5, 0xc9, 0xcb, 0xcf, 0xc0]);
      return { what: `frame marker 0xff${b[sof.at + 1]!.toString(16)}`, bytes: b };
    },
    () => {
      b[sof.at + 9] = pick(rand, [0, 2, 4, 255, 1]);
      return { what: `${b[sof.at + 9]} components`, bytes: b };
    },
    () => {
      const c = Math.floor(rand() * 3);
      b[sof.at + 11 + 3 * c] = pick(rand, [0x00, 0x0f, 0xf0, 0x44, 0xff, 0x22]);
      return { what: `component ${c} sampling 0x${b[sof.at + 11 + 3 * c]!.toString(16)}`, bytes: b };
    },
    () => {
      b[sof.at + 4] = pick(rand, [0, 12, 16, 255]);
      return { what: `precision ${b[sof.at + 4]}`, bytes: b };
    },
    () => {
      // a table spec that does not exist (DQT precision / id, DHT class / id), or a scan naming a missing table or component
      const s = pick(rand, segs.filter((x) => x.marker === 0xdb || x.marker === 0xc4 || x.marker === 0xda));
      b[s.at + 4 + (s.marker === 0xda ? 1 : 0)] = pick(rand, [0x2f, 0xff, 0x13, 0x07, 0x90]);
      return { what: `table / scan spec in 0xff${s.marker.toString(16)}`, bytes: b };
    },
    () => {
      // a second frame header, or a second SOI
      const extra = rand() < 0.5 ? b.slice(sof.at, sof.end) : Uint8Array.of(0xff, 0xd8);
      const at = pick(rand, [sof.end, sos.at, 2]);
      return { what: `duplicated ${extra.length === 2 ? "SOI" : "SOF"} at ${at}`, bytes: new Uint8Array(Buffer.concat([b.subarray(0, at), extra, b.subarray(at)])) };
    },
    () => {
      const cut = sos.end + Math.floor(rand() * Math.max(1, b.length - sos.end - 2));
      return { what: `scan truncated at ${cut}`, bytes: b.slice(0, cut) };
    },
    () => ({ what: "no EOI", bytes: b.slice(0, b.length - 2) }),
    () => {
      // scan data replaced by garbage, or by runs of 0xff / restart markers
      const kind = pick(rand, ["garbage", "ff", "rst"] as const);
      for (let p = sos.end; p < b.length - 2; p++) b[p] = kind === "garbage" ? Math.floor(rand() * 256) : kind === "ff" ? 0xff : p % 2 ? 0xd0 : 0xff;
      return { what: `scan data ${kind}`, bytes: b };
    },
  ];
  return pick(rand, lies)();
}

const target: FuzzTarget = {
  format: "jpeg",
  ext: ".jpg",
  seeds,
  lie,
  load: loadImageSummary,
};

export default target;
