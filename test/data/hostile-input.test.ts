/**
 * Hostile input to the data and config loaders (issue 14): gzip bombs and IDX headers that lie,
 * PNG / JPEG headers declaring huge images in tiny files, latent headers that lie, and config
 * JSON with out-of-range sizes, unknown names or fields, deep nesting and invalid UTF-8. Each is
 * refused with the loader's typed error naming the file, before the declared size is allocated.
 * The fuzz targets in test/fuzz/targets cover the same loaders at random; these are the named cases.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32, gzipSync } from "node:zlib";
import { after, describe, it } from "node:test";
import jpeg from "jpeg-js";
import { DatasetError, decodeImage } from "../../src/data/index.js";
import { readIdxImageFile, readIdxLabelFile, encodeIdxLabels } from "../../src/data/idx.js";
import { encodeIdxImages } from "../../src/io/datasets.js";
import { ModelConfigError } from "../../src/model/config.js";
import { readModelConfigFile } from "../../src/sample/model-source.js";
import { encodePng } from "../../src/sample/png.js";
import { readVaeConfigFile, VaeLoadError } from "../../src/vae/load.js";

const tmp = mkdtempSync(join(tmpdir(), "dit-hostile-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const file = (bytes: Uint8Array | string, ext = "") => {
  const p = join(tmp, `f${n++}${ext}`);
  writeFileSync(p, bytes);
  return p;
};
/** Asserts `fn` throws `cls` whose message names `path` and matches `why`. */
function refuses(fn: () => unknown, cls: new (...a: never[]) => Error, path: string, why: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.ok(e.message.includes(path), `message does not name ${path}: ${e.message}`);
    assert.match(e.message, why);
    return true;
  });
}

describe("IDX and gzip", () => {
  const images = encodeIdxImages(Uint8Array.from({ length: 3 * 16 }, (_, k) => k), 3, 4, 4);

  it("a gzip bomb (the seed + 1 GiB of zeros in gzip members) is refused after the bytes its IDX header declares", () => {
    const zeros = gzipSync(Buffer.alloc(64 * 2 ** 20), { level: 9 });
    const p = file(Buffer.concat([gzipSync(images), ...Array.from({ length: 16 }, () => zeros)]), ".gz");
    const before = process.memoryUsage().arrayBuffers;
    refuses(() => readIdxImageFile(p), DatasetError, p, /inflates to more than the 64 bytes its IDX header declares/);
    // nothing near 1 GiB was held (a generous margin for the allocator)
    assert.ok(process.memoryUsage().arrayBuffers - before < 256 * 2 ** 20);
  });

  it("an IDX header in a small gzip file that declares 1 GiB is refused before inflating", () => {
    const head = Buffer.alloc(16);
    head.writeUInt32BE(0x803, 0);
    head.writeUInt32BE(2 ** 30 / 1024, 4);
    head.writeUInt32BE(32, 8);
    head.writeUInt32BE(32, 12);
    const p = file(gzipSync(head), ".gz");
    refuses(() => readIdxImageFile(p), DatasetError, p, /declares 1073741840 bytes.*decompression bomb/);
  });

  it("bad CRC and a truncated deflate stream are typed errors", () => {
    const gz = gzipSync(images);
    const crc = Buffer.from(gz);
    crc[crc.length - 8]! ^= 1;
    const p1 = file(crc, ".gz");
    refuses(() => readIdxImageFile(p1), DatasetError, p1, /corrupt or truncated gzip stream/);
    const p2 = file(gz.subarray(0, gz.length - 12), ".gz");
    refuses(() => readIdxImageFile(p2), DatasetError, p2, /corrupt or truncated gzip stream|truncated/);
  });

  it("sizes whose product overflows, and a dtype that does not exist", () => {
    const big = Buffer.from(images);
    big.writeUInt32BE(0xffffffff, 4);
    big.writeUInt32BE(0xffffffff, 8);
    const p1 = file(big);
    refuses(() => readIdxImageFile(p1), DatasetError, p1, /truncated: the header declares 4294967295 images/);
    const p2 = file(Buffer.concat([Buffer.from([0, 0, 0x0f, 1]), encodeIdxLabels([1, 2]).subarray(4)]));
    refuses(() => readIdxLabelFile(p2), DatasetError, p2, /magic 0x00000f01; expected an IDX label file/);
  });
});

/** A PNG's chunks re-assembled with correct CRCs after `edit` changed the IHDR. */
function withIhdr(png: Buffer, edit: (ihdr: Buffer) => void): Buffer {
  const out = Buffer.from(png);
  edit(out.subarray(16, 29));
  out.writeUInt32BE(crc32(out.subarray(12, 29)) >>> 0, 29);
  return out;
}

describe("PNG and JPEG", () => {
  const png = encodePng(Uint8Array.from({ length: 4 * 4 * 3 }, (_, k) => k), 4, 4, 3);

  it("the test image decodes (the edits below are the only difference)", () => {
    const img = decodeImage(png, "ok.png");
    assert.deepEqual([img.channels, img.height, img.width], [3, 4, 4]);
  });

  it("an IHDR of 60000×60000 in a tiny file is refused before pngjs allocates", () => {
    const p = file(
      withIhdr(png, (h) => {
        h.writeUInt32BE(60000, 0);
        h.writeUInt32BE(60000, 4);
      }),
      ".png",
    );
    refuses(() => decodeImage(withIhdr(png, (h) => (h.writeUInt32BE(60000, 0), h.writeUInt32BE(60000, 4))), p), DatasetError, p, /60000×60000, more than the 100000000 pixels/);
    const q = file(Buffer.alloc(0));
    refuses(() => decodeImage(withIhdr(png, (h) => (h.writeUInt32BE(4000, 0), h.writeUInt32BE(4000, 4))), q), DatasetError, q, /4000×4000 \(16000000 pixels\) in a \d+-byte file/);
  });

  it("unknown colour type, zero width, chunk length past the end", () => {
    refuses(() => decodeImage(withIhdr(png, (h) => (h[9] = 5)), "a.png"), DatasetError, "a.png", /unknown colour type 5/);
    refuses(() => decodeImage(withIhdr(png, (h) => h.writeUInt32BE(0, 0)), "b.png"), DatasetError, "b.png", /empty 0×4 image/);
    const long = Buffer.from(png);
    long.writeUInt32BE(0x7fffffff, 33); // the chunk after IHDR
    refuses(() => decodeImage(long, "c.png"), DatasetError, "c.png", /declares 2147483647 data bytes, past the end/);
  });

  it("a JPEG whose SOF declares 60000×60000 is refused before jpeg-js allocates", () => {
    const data = Buffer.alloc(8 * 8 * 4, 200);
    const jpg = Buffer.from(jpeg.encode({ data, width: 8, height: 8 }, 90).data);
    const sof = jpg.indexOf(Buffer.from([0xff, 0xc0]));
    const sized = (side: number) => {
      const b = Buffer.from(jpg);
      b.writeUInt16BE(side, sof + 5);
      b.writeUInt16BE(side, sof + 7);
      return b;
    };
    assert.equal(decodeImage(sized(8), "ok.jpg").width, 8);
    refuses(() => decodeImage(sized(60000), "big.jpg"), DatasetError, "big.jpg", /not a readable JPEG: it declares 60000×60000, more than the 100000000 pixels/);
    refuses(() => decodeImage(sized(4000), "mid.jpg"), DatasetError, "mid.jpg", /JPEG declares 4000×4000 \(16000000 pixels\) in a \d+-byte file/);
    // under the 2 Mpx that decode whatever the file size: the scan must still hold ≥ 1 bit per 8×8 block
    refuses(() => decodeImage(sized(1400), "small.jpg"), DatasetError, "small.jpg", /the frame declares 1400×1400 \(30625 blocks of 8×8\) but the scans hold only \d+ coded bytes/);
  });
});

describe("config JSON", () => {
  it("model config: hidden 1e12, depth 1e9, unknown model, unknown field, non-object, deep nesting, invalid UTF-8", () => {
    const cases: [string | Buffer, RegExp][] = [
      [JSON.stringify({ input_size: 32, hidden_size: 1e12 }), /hidden_size|hiddenSize 1000000000000 is larger than 16384/],
      [JSON.stringify({ input_size: 32, depth: 1e9 }), /depth 1000000000 is larger than 1024/],
      [JSON.stringify({ hiddenSize: 8192, depth: 1024, numHeads: 16, patchSize: 2 }), /parameters, more than the 1e\+10/],
      [JSON.stringify({ model: "DiT-Q/3" }), /unknown model 'DiT-Q\/3'/],
      [JSON.stringify({ model: "DiT-S/2", num_classes: 10 }), /unknown field "num_classes"/],
      [JSON.stringify({ input_size: "32" }), /inputSize must be a positive integer, got "32"/],
      ["[1, 2]", /must be a JSON object, got an array/],
      [`{"dit_kwargs": ${"[".repeat(1000)}${"]".repeat(1000)}}`, /dit_kwargs must be an object|nests 1001 levels/],
      [`{"a": ${"{\"a\":".repeat(100)}1${"}".repeat(100)}}`, /nests 101 levels deep/],
      [Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), /not valid UTF-8/],
      ['{"__proto__": {"hidden_size": 1e12}, "input_size": 8}', /unknown field "__proto__"/],
    ];
    for (const [text, why] of cases) {
      const p = file(text, ".json");
      refuses(() => readModelConfigFile(p), ModelConfigError, p, why);
    }
  });

  it("VAE config: wrong types, unsupported blocks, sizes out of range", () => {
    const cases: [unknown, RegExp][] = [
      [{ block_out_channels: 5 }, /block_out_channels must be a list of 1\.\.8 channel counts, got 5/],
      [{ block_out_channels: [1e12] }, /entries must be integers in 1\.\.4096, got 1000000000000/],
      [{ layers_per_block: 1e9 }, /layers_per_block must be an integer in 1\.\.16/],
      [{ down_block_types: ["CrossAttnDownBlock2D"], block_out_channels: [64] }, /only DownEncoderBlock2D/],
      [{ _class_name: "UNet2DModel" }, /_class_name is "UNet2DModel"/],
      [{ block_out_channels: [64], norm_num_groups: 7 }, /64 channels are not divisible by 7 groups/],
    ];
    for (const [json, why] of cases) {
      const p = file(JSON.stringify(json), ".json");
      refuses(() => readVaeConfigFile(p), VaeLoadError, p, why);
    }
  });
});
