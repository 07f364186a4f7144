/**
 * readNpz through the shared zip reader (src/io/zip.ts): stored and deflated members
 * (np.savez_compressed), zip64, and hostile archives (CRC mismatch, names that escape, duplicate
 * names, truncation, headers that lie) refused with an NpzError naming the file and member.
 * Archives are hand-built here (test/io/pickle-builder.ts's buildZip and buildZip64); a cross-check
 * with real numpy runs where /usr/bin/python3 has it (skipped, with the reason, where not).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { decodeNpy, NpzError, readNpz, writeNpz } from "../../src/io/npz.js";
import { buildZip, buildZip64, type ZipRecord } from "./pickle-builder.js";

const tmp = mkdtempSync(join(tmpdir(), "dit-npz-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function file(bytes: Uint8Array): string {
  const p = join(tmp, `case-${n++}.npz`);
  writeFileSync(p, bytes);
  return p;
}

/** `.npy` bytes by hand: format 1.0, header padded to 64 bytes, then `data`. */
function npy(descr: string, shape: string, data: Uint8Array, version = 1): Uint8Array {
  const pre = version === 1 ? 10 : 12;
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  h = h.padEnd(Math.ceil((pre + h.length + 1) / 64) * 64 - pre - 1, " ") + "\n";
  const out = new Uint8Array(pre + h.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, h.length, true);
  else dv.setUint32(8, h.length, true);
  out.set(Buffer.from(h, "latin1"), pre);
  out.set(data, pre + h.length);
  return out;
}

const f32 = (xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);
const A = npy("<f4", "(2, 3)", f32([0, 1.5, -2, 3, 4, 5.25]));
const B = npy("<i8", "(2,)", new Uint8Array(BigInt64Array.from([7n, -9n]).buffer));

/** Assert an NpzError whose message starts with the file's path and matches `re`. */
function refuses(path: string, re: RegExp): void {
  assert.throws(
    () => readNpz(path),
    (e: Error) => {
      assert.ok(e instanceof NpzError, `expected NpzError, got ${e.constructor.name}: ${e.message}`);
      assert.ok(e.message.startsWith(`${path}: `), e.message);
      assert.match(e.message, re);
      return true;
    },
  );
}

function checkAB(m: Map<string, { dtype: string; shape: number[]; data: ArrayLike<unknown> }>): void {
  assert.deepEqual([...m.keys()], ["a", "b"]);
  assert.equal(m.get("a")!.dtype, "float32");
  assert.deepEqual(m.get("a")!.shape, [2, 3]);
  assert.deepEqual([...(m.get("a")!.data as Float32Array)], [0, 1.5, -2, 3, 4, 5.25]);
  assert.equal(m.get("b")!.dtype, "int64");
  assert.deepEqual(m.get("b")!.shape, [2]);
  assert.deepEqual([...(m.get("b")!.data as BigInt64Array)], [7n, -9n]);
}

describe("readNpz", () => {
  it("reads stored members (np.savez layout)", () => {
    checkAB(readNpz(file(buildZip([{ name: "a.npy", data: A }, { name: "b.npy", data: B }]).bytes)));
  });

  it("reads deflated members (np.savez_compressed layout), and a mix of stored and deflated", () => {
    checkAB(readNpz(file(buildZip([{ name: "a.npy", data: A, deflate: true }, { name: "b.npy", data: B, deflate: true }]).bytes)));
    checkAB(readNpz(file(buildZip([{ name: "a.npy", data: A }, { name: "b.npy", data: B, deflate: true }]).bytes)));
  });

  it("reads a zip64 archive (zip64 end record, sizes and offsets in the zip64 extra field)", () => {
    checkAB(readNpz(file(buildZip64([{ name: "a.npy", data: A }, { name: "b.npy", data: B }]))));
  });

  it("reads what writeNpz writes", () => {
    const p = join(tmp, "w.npz");
    writeNpz(p, { x: { dtype: "uint8", shape: [3], data: Uint8Array.from([1, 2, 250]) } });
    const m = readNpz(p);
    assert.deepEqual([...m.keys()], ["x"]);
    assert.deepEqual([...m.get("x")!.data], [1, 2, 250]);
  });

  it("refuses a CRC-32 mismatch, naming the member (stored and deflated)", () => {
    for (const deflate of [false, true]) {
      const p = file(buildZip([{ name: "a.npy", data: A }, { name: "b.npy", data: B, deflate, crc: 0x12345678 }]).bytes);
      refuses(p, /^.*: b\.npy: CRC-32 mismatch \(stored 0x12345678, computed 0x[0-9a-f]{8}\) — the file is corrupt$/);
    }
  });

  it("refuses names that escape the archive and duplicate names", () => {
    for (const name of ["../a.npy", "/abs.npy", "x\\..\\a.npy", "C:/a.npy", ""]) {
      refuses(file(buildZip([{ name, data: A }]).bytes), /escapes the archive/);
    }
    refuses(file(buildZip([{ name: "a.npy", data: A }, { name: "a.npy", data: B }]).bytes), /two records named 'a\.npy'/);
    refuses(file(buildZip([{ name: "a", data: A }, { name: "a.npy", data: B }]).bytes), /two members give the array 'a'/);
  });

  it("refuses truncated archives and lying sizes with an NpzError naming the file", () => {
    const { bytes, layout } = buildZip([{ name: "a.npy", data: A, deflate: true }, { name: "b.npy", data: B }]);
    refuses(file(bytes.subarray(0, layout.eocd + 10)), /end-of-central-directory record not found/);
    refuses(file(new Uint8Array(0)), /end-of-central-directory record not found/);
    const lying = bytes.slice();
    new DataView(lying.buffer).setUint32(layout.records[0]!.central + 24, 0xfffffff0, true); // deflated size 4 GiB
    refuses(file(lying), /a\.npy' declares 4294967280 bytes from \d+ compressed \(impossible for deflate/);
    const past = bytes.slice();
    new DataView(past.buffer).setUint32(layout.records[1]!.central + 42, bytes.length - 10, true);
    refuses(file(past), /b\.npy/);
  });

  it("refuses a member that is not a valid .npy, naming the member", () => {
    const bad: [ZipRecord, RegExp][] = [
      [{ name: "a.npy", data: Uint8Array.from([1, 2, 3]) }, /: a\.npy: not a \.npy array/],
      [{ name: "a.npy", data: npy("<f4", "(-2, -3)", f32([0, 1, 2, 3, 4, 5])) }, /: a\.npy: shape \(-2, -3\) is not a tuple of non-negative integers/],
      [{ name: "a.npy", data: npy("<f4", "(1.5, 4)", f32([0, 1, 2, 3, 4, 5])) }, /not a tuple of non-negative integers/],
      [{ name: "a.npy", data: npy("<f4", "(2, 4)", f32([0, 1, 2, 3, 4, 5])) }, /24 data bytes for float32\[2,4\] \(expected 32\)/],
      [{ name: "a.npy", data: npy("<c8", "(1,)", f32([0, 1])) }, /dtype '<c8' is not supported/],
      [{ name: "a.npy", data: A.slice(0, 11).fill(2, 6, 7) }, /truncated header/],
      [{ name: "a.npy", data: A.slice().fill(9, 6, 7) }, /format version 9\.0 is not supported/],
    ];
    for (const [r, re] of bad) refuses(file(buildZip([r]).bytes), re);
  });

  it("refuses a missing file with an NpzError", () => {
    refuses(join(tmp, "absent.npz"), /cannot open/);
  });
});

describe("decodeNpy", () => {
  it("reads format 2.0 headers, scalars and empty arrays", () => {
    const a = decodeNpy(npy("<f4", "(3,)", f32([1, 2, 3]), 2));
    assert.deepEqual(a.shape, [3]);
    assert.deepEqual([...a.data], [1, 2, 3]);
    assert.deepEqual(decodeNpy(npy("<f4", "()", f32([2.5]))).shape, []);
    assert.deepEqual(decodeNpy(npy("<f4", "(0, 4)", new Uint8Array(0))).shape, [0, 4]);
  });
});

function numpySkip(): string | undefined {
  const r = spawnSync("/usr/bin/python3", ["-c", "import numpy"], { encoding: "utf8" });
  return r.status === 0 ? undefined : "numpy under /usr/bin/python3 is not available";
}

describe("readNpz against numpy", { skip: numpySkip() }, () => {
  it("reads np.savez_compressed and np.savez files", () => {
    for (const fn of ["savez_compressed", "savez"]) {
      const p = join(tmp, `${fn}.npz`);
      execFileSync("/usr/bin/python3", ["-c", `import numpy as np, sys; np.${fn}(sys.argv[1], a=np.array([[0, 1.5, -2], [3, 4, 5.25]], dtype=np.float32), b=np.array([7, -9], dtype=np.int64), c=np.zeros((50, 40), dtype=np.uint8))`, p]);
      const m = readNpz(p);
      assert.deepEqual([...m.keys()], ["a", "b", "c"], fn);
      checkAB(new Map([...m].filter(([k]) => k !== "c")));
      assert.deepEqual(m.get("c")!.shape, [50, 40]);
      assert.ok(m.get("c")!.data.every((x) => x === 0));
    }
  });
});
