/**
 * safetensors: the data SHA-256 dit-ts writes and checks, and headers that lie.
 * Expected values come from the raw bytes (parsed and hashed here, not by the code under test).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { isDitError } from "../../src/errors.js";
import { convertCheckpoint } from "../../src/io/convert.js";
import { DATA_SHA256_KEY, readSafetensors, SafetensorsError, SafetensorsFile, writeSafetensors } from "../../src/io/safetensors.js";
import { loadCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.js";
import { configFromKwargs } from "../../src/model/config.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { BUNDLED_MODEL_DIR } from "../../src/sample/model-source.js";
import { REPO_FIXTURE_ROOT } from "../fixture-root.js";

const tmp = mkdtempSync(join(tmpdir(), "dit-safetensors-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Header JSON and data region of a file, split by hand. */
function split(path: string): { header: Record<string, any>; headerEnd: number; data: Buffer } {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  return { header: JSON.parse(b.subarray(8, 8 + n).toString("utf8")), headerEnd: 8 + n, data: b.subarray(8 + n) };
}

/** A file from a header object (padded with spaces) and data bytes, assembled by hand. */
function assemble(path: string, header: unknown, data: Uint8Array = new Uint8Array(0), rawHeader?: string): string {
  const h = Buffer.from(rawHeader ?? JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(path, Buffer.concat([len, h, data]));
  return path;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function sample(path: string, metadata: Record<string, string> = {}, options?: { sha256?: boolean }): string {
  writeSafetensors(
    path,
    { a: { data: Float32Array.from([1, 2, 3, 4, 5, 6]), shape: [2, 3] }, b: { data: BigInt64Array.from([7n, -8n]), shape: [2] }, e: { data: new Float32Array(0), shape: [0, 4] } },
    metadata,
    options,
  );
  return path;
}

/** Assert `fn` throws a SafetensorsError naming `path` and matching `re`. */
function refuses(fn: () => unknown, path: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SafetensorsError && isDitError(e), `expected a SafetensorsError, got ${String(e)}`);
    assert.ok(e.message.includes(path), `message does not name the file: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

describe("safetensors data SHA-256", () => {
  it("a written file records the SHA-256 of its data region; user metadata reads back unchanged", () => {
    const p = sample(join(tmp, "w.safetensors"), { note: "hi" });
    const { header, data } = split(p);
    assert.equal(header.__metadata__[DATA_SHA256_KEY], sha(data));
    assert.equal(header.__metadata__.note, "hi");
    const r = readSafetensors(p);
    assert.deepEqual(r.metadata, { note: "hi" });
    assert.deepEqual(r.tensors.get("a")!.data, Float32Array.from([1, 2, 3, 4, 5, 6]));
    assert.equal(SafetensorsFile.open(p).dataSha256, sha(data));
  });

  it("a stale key passed in as metadata is replaced by the real hash", () => {
    const p = sample(join(tmp, "stale.safetensors"), { [DATA_SHA256_KEY]: "0".repeat(64) });
    const { header, data } = split(p);
    assert.equal(header.__metadata__[DATA_SHA256_KEY], sha(data));
    const q = sample(join(tmp, "stale-off.safetensors"), { [DATA_SHA256_KEY]: "0".repeat(64) }, { sha256: false });
    assert.equal(split(q).header.__metadata__, undefined);
  });

  it("a flipped bit anywhere in the data region is refused with the SHA-256 message (and loads with verify: false)", () => {
    const p = sample(join(tmp, "flip-src.safetensors"));
    const { headerEnd } = split(p);
    const bytes = readFileSync(p);
    for (const [i, at] of [headerEnd, headerEnd + 5, bytes.length - 1].entries()) {
      const q = join(tmp, `flip-${i}.safetensors`);
      const b = Buffer.from(bytes);
      b[at]! ^= 1 << i;
      writeFileSync(q, b);
      refuses(() => readSafetensors(q), q, /data does not match its SHA-256/);
      refuses(() => SafetensorsFile.open(q), q, /data does not match its SHA-256/);
      const loose = readSafetensors(q, { verify: false });
      assert.equal(loose.tensors.size, 3);
      SafetensorsFile.open(q, { verify: false }).close();
    }
  });

  it("the bundled model's files carry it", () => {
    for (const f of ["dit.safetensors", "vae/vae.safetensors"]) {
      const { header, data } = split(join(BUNDLED_MODEL_DIR, f));
      assert.equal(header.__metadata__[DATA_SHA256_KEY], sha(data), f);
    }
  });

  it("a file without the key (third-party) loads unchecked", () => {
    const data = Buffer.from(Float32Array.from([1.5, -2]).buffer);
    const p = assemble(join(tmp, "third.safetensors"), { __metadata__: { format: "pt" }, w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, data);
    const r = readSafetensors(p);
    assert.deepEqual(r.tensors.get("w")!.data, Float32Array.from([1.5, -2]));
    assert.deepEqual(r.metadata, { format: "pt" });
    assert.equal(SafetensorsFile.open(p).dataSha256, undefined);
    const q = sample(join(tmp, "nosha.safetensors"), {}, { sha256: false });
    assert.equal(split(q).header.__metadata__, undefined);
    assert.equal(readSafetensors(q).tensors.size, 3);
  });

  it("training checkpoints and converted weights carry it", () => {
    const w = () => new Map([["x_embedder.proj.bias", new Tensor(Float32Array.from([1, 2, 3, 4]), [4])]]);
    const ck = join(tmp, "0000001.safetensors");
    saveCheckpoint(ck, {
      config: configFromKwargs({ input_size: 4, patch_size: 2, in_channels: 2, hidden_size: 16, depth: 2, num_heads: 2, num_classes: 3 }),
      state: { step: 1, model: w(), ema: w(), adam: { step: 1, expAvg: w(), expAvgSq: w() } },
      train: { step: 1, adam_step: 1, adam: { lr: 1e-4, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0 }, seed: 0, data_position: 8, args: {} },
    });
    const s = split(ck);
    assert.equal(s.header.__metadata__[DATA_SHA256_KEY], sha(s.data));
    const b = readFileSync(ck);
    b[b.length - 2]! ^= 0x10;
    const bad = join(tmp, "0000002.safetensors");
    writeFileSync(bad, b);
    assert.throws(() => loadCheckpoint(bad), (e: unknown) => isDitError(e) && e.message.includes(bad) && /data does not match its SHA-256/.test(e.message));

    const out = join(tmp, "converted.safetensors");
    convertCheckpoint(join(REPO_FIXTURE_ROOT, "torch", "state_zip.pt"), out);
    const c = split(out);
    assert.equal(c.header.__metadata__[DATA_SHA256_KEY], sha(c.data));
  });
});

describe("safetensors headers that lie", () => {
  const f32 = (n: number) => Buffer.from(new Float32Array(n).buffer);
  const entry = (begin: number, end: number, shape: unknown = [(end - begin) / 4], dtype: unknown = "F32") => ({ dtype, shape, data_offsets: [begin, end] });
  const cases: [string, () => string, RegExp][] = [
    ["header length past the end", () => {
      const p = join(tmp, "len.safetensors");
      const b = Buffer.alloc(16);
      b.writeBigUInt64LE(1_000_000_000_000n);
      writeFileSync(p, b);
      return p;
    }, /header length 1000000000000 exceeds the file size 16/],
    ["data_offsets past the end", () => assemble(join(tmp, "past.safetensors"), { a: entry(0, 16) }, f32(2)), /lies beyond the end of the file/],
    ["overlapping tensors", () => assemble(join(tmp, "overlap.safetensors"), { a: entry(0, 8), b: entry(4, 12) }, f32(3)), /overlaps another tensor/],
    ["a gap between tensors", () => assemble(join(tmp, "gap.safetensors"), { a: entry(0, 4), b: entry(8, 12) }, f32(3)), /a gap/],
    ["trailing data", () => assemble(join(tmp, "trail.safetensors"), { a: entry(0, 4) }, f32(2)), /trailing bytes/],
    ["offsets not matching dtype × shape", () => assemble(join(tmp, "mismatch.safetensors"), { a: entry(0, 8, [3]) }, f32(2)), /hold 8 bytes, but F32\[3\] needs 12/],
    ["a shape whose product overflows 2^53", () => assemble(join(tmp, "overflow.safetensors"), { a: entry(0, 0, [2 ** 30, 2 ** 30, 2 ** 30]) }), /more elements than any file can hold/],
    ["a negative dimension", () => assemble(join(tmp, "neg.safetensors"), { a: entry(0, 4, [-1]) }, f32(1)), /shape \[-1\], expected an array of non-negative integers/],
    ["an unknown dtype", () => assemble(join(tmp, "dtype.safetensors"), { a: entry(0, 4, [1], "F8") }, f32(1)), /unsupported dtype "F8"/],
    ["a header that is not an object", () => assemble(join(tmp, "array.safetensors"), [1, 2]), /expected a JSON object/],
    ["1e5 nested arrays", () => assemble(join(tmp, "deep.safetensors"), null, undefined, `{"a":${"[".repeat(1e5)}${"]".repeat(1e5)}}`), /tensor 'a' has a malformed header entry/],
    ["a duplicated key", () => assemble(join(tmp, "dup.safetensors"), null, f32(1), `{"a":${JSON.stringify(entry(0, 4))},"a":${JSON.stringify(entry(0, 4))}}`), /names 'a' more than once/],
    ["__metadata__ with a non-string value", () => assemble(join(tmp, "meta.safetensors"), { __metadata__: { step: 5 }, a: entry(0, 4) }, f32(1)), /__metadata__ entry 'step' is 5, expected a string/],
    ["a malformed SHA-256", () => assemble(join(tmp, "badsha.safetensors"), { __metadata__: { [DATA_SHA256_KEY]: "abc" }, a: entry(0, 4) }, f32(1)), /expected 64 hex digits/],
    ["invalid UTF-8 in the header", () => {
      const p = join(tmp, "utf8.safetensors");
      const h = Buffer.concat([Buffer.from('{"'), Buffer.from([0xff, 0xfe]), Buffer.from('":1}')]);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(h.length));
      writeFileSync(p, Buffer.concat([len, h]));
      return p;
    }, /not valid UTF-8/],
  ];
  for (const [name, make, re] of cases) {
    it(name, () => {
      const p = make();
      refuses(() => readSafetensors(p), p, re);
    });
  }

  it("empty tensors may share an offset; a file of only empty tensors has no data", () => {
    const p = assemble(join(tmp, "empties.safetensors"), { a: entry(0, 0, [0, 3]), b: entry(0, 0, [0]), c: entry(0, 4, [1]) }, f32(1));
    const r = readSafetensors(p);
    assert.deepEqual([...r.tensors.keys()], ["a", "b", "c"]);
    assert.deepEqual(r.tensors.get("a")!.shape, [0, 3]);
  });
});
