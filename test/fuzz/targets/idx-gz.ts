/**
 * Fuzz target: gzipped IDX files (the `.gz` Fashion-MNIST files as the project reads them,
 * src/data/idx.ts `readMaybeGzip`). Lies: gzip headers that lie (method, flags, FEXTRA / FNAME
 * running past the end), truncated deflate streams, bad CRC-32 / ISIZE, trailing garbage,
 * IDX headers that lie inside a valid gzip, and gzip bombs (≈ 1 GiB from a small file) that
 * must be refused after what the IDX header declares, never inflated whole.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { idxLie, idxSeeds, loadIdx, pick } from "../idx-seeds.js";
import type { FuzzSeed, FuzzTarget } from "../target.js";

/** Boundaries of a one-member gzip file: header end (10 bytes, no optional fields), CRC-32, ISIZE. */
const gzBoundaries = (b: Uint8Array) => [0, 2, 3, 4, 10, b.length - 8, b.length - 4, b.length];

function seeds(): FuzzSeed[] {
  return idxSeeds().map((s) => {
    const bytes = new Uint8Array(gzipSync(s.bytes));
    return { name: `${s.name}.gz`, bytes, boundaries: gzBoundaries(bytes) };
  });
}

let zeros64: Uint8Array | undefined;
/** One gzip member of 64 MiB of zeros (≈ 64 KiB), built once. */
function zerosMember(): Uint8Array {
  zeros64 ??= new Uint8Array(gzipSync(Buffer.alloc(64 * 2 ** 20), { level: 9 }));
  return zeros64;
}

const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

function lie(seed: FuzzSeed, rand: () => number): { bytes: Uint8Array; what: string } {
  const gz = seed.bytes;
  const raw = new Uint8Array(gunzipSync(gz));
  const lies: (() => { bytes: Uint8Array; what: string })[] = [
    () => {
      // an IDX lie, honestly gzipped
      const m = idxLie({ name: seed.name, bytes: raw }, rand);
      return { what: `gzip of: ${m.what}`, bytes: new Uint8Array(gzipSync(m.bytes)) };
    },
    () => {
      const b = gz.slice();
      b[2] = pick(rand, [0, 7, 9, 15, 255]);
      return { what: `compression method ${b[2]}`, bytes: b };
    },
    () => {
      // flags that promise optional fields that are not there (FEXTRA, FNAME, FCOMMENT, FHCRC, reserved bits)
      const b = gz.slice();
      b[3] = pick(rand, [0x04, 0x08, 0x10, 0x02, 0xe0, 0x1e, 0xff]);
      return { what: `FLG 0x${b[3]!.toString(16)}`, bytes: b };
    },
    () => {
      // FEXTRA with a length past the end, or an FNAME with no terminating NUL
      const head = gz.slice(0, 10);
      if (rand() < 0.5) {
        head[3] = 0x04;
        const xlen = pick(rand, [0xffff, gz.length, 1000]);
        return { what: `FEXTRA of ${xlen} bytes`, bytes: concat(head, Uint8Array.of(xlen & 0xff, xlen >> 8), gz.subarray(10, 30)) };
      }
      head[3] = 0x08;
      return { what: "FNAME without NUL", bytes: concat(head, new Uint8Array(200).fill(0x41)) };
    },
    () => {
      const cut = 10 + Math.floor(rand() * Math.max(1, gz.length - 18));
      return { what: `deflate stream truncated at ${cut}`, bytes: gz.slice(0, cut) };
    },
    () => {
      const b = gz.slice();
      const v = new DataView(b.buffer);
      const field = pick(rand, ["crc", "isize"] as const);
      const at = b.length - (field === "crc" ? 8 : 4);
      v.setUint32(at, pick(rand, [v.getUint32(at, true) ^ 1, 0, 0xffffffff, v.getUint32(at, true) + 1]), true);
      return { what: `bad ${field}`, bytes: b };
    },
    () => {
      const tail = pick(rand, [Uint8Array.of(0), Uint8Array.of(0x1f, 0x8b), new Uint8Array(64).fill(0x55), gz.subarray(0, 12)]);
      return { what: `${tail.length} bytes of trailing garbage`, bytes: concat(gz, tail) };
    },
    () => {
      // a bomb: the seed, then 16 members of 64 MiB of zeros (≈ 1 GiB from ≈ 1 MiB)
      const n = pick(rand, [1, 4, 16]);
      return { what: `bomb: seed + ${n} × 64 MiB of zeros in gzip members`, bytes: concat(gz, ...Array.from({ length: n }, () => zerosMember())) };
    },
    () => {
      // a bomb whose IDX header claims the inflated size (1 GiB of images)
      const n = Math.floor(2 ** 30 / 784);
      const head = new Uint8Array(16);
      const v = new DataView(head.buffer);
      v.setUint32(0, 0x803, false);
      v.setUint32(4, n, false);
      v.setUint32(8, 28, false);
      v.setUint32(12, 28, false);
      return { what: `bomb: header declares ${n} images of 28×28, 16 × 64 MiB of zeros follow`, bytes: concat(gzipSync(head), ...Array.from({ length: 16 }, () => zerosMember())) };
    },
    () => ({ what: "empty gzip member", bytes: new Uint8Array(gzipSync(Buffer.alloc(0))) }),
  ];
  return pick(rand, lies)();
}

const target: FuzzTarget = {
  format: "idx-gz",
  ext: "-ubyte.gz",
  seeds,
  lie,
  load: loadIdx,
};

export default target;
