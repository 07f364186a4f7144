/**
 * src/io/datasets.ts (the VAE trainer's image datasets): PNG folders go through the checked
 * decoder of src/data/image.ts, and every bad folder or file is a DatasetError naming it.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { after, describe, it } from "node:test";
import { DatasetError } from "../../src/data/errors.js";
import { loadImageDataset, padToSize } from "../../src/io/datasets.js";
import { encodePng } from "../../src/sample/png.js";

const tmp = mkdtempSync(join(tmpdir(), "dit-io-datasets-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const folder = (files: Record<string, Uint8Array | string>) => {
  const dir = join(tmp, `d${n++}`);
  mkdirSync(dir);
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  return dir;
};

/** Asserts `fn` throws a DatasetError whose message names `path` and matches `why`. */
function refuses(fn: () => unknown, path: string, why: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DatasetError, `expected DatasetError, got ${String(e)}`);
    assert.ok(e.message.includes(path), `message does not name ${path}: ${e.message}`);
    assert.match(e.message, why);
    return true;
  });
}

// 2×2 RGB, pixels (HWC) 0, 51, 102 | 153, 204, 255 | …
const rgb = Uint8Array.from([0, 51, 102, 153, 204, 255, 255, 0, 51, 102, 153, 204]);
const png = encodePng(rgb, 2, 2, 3);

describe("loadImageDataset: PNG folders", () => {
  it("decodes a PNG folder to (N, 3, H, W) in [-1, 1] (v / 255 · 2 − 1), planar", () => {
    const ds = loadImageDataset(folder({ "a.png": png, "b.png": png }));
    assert.deepEqual(ds.shape, [2, 3, 2, 2]);
    // channel 0 of image 0: pixels 0, 153, 255, 102
    assert.deepEqual([...ds.data.subarray(0, 4)], [0, 153, 255, 102].map((v) => Math.fround((v / 255) * 2 - 1)));
  });

  it("a PNG whose IHDR declares 60000×60000 is refused by the checked decoder, naming the file", () => {
    const big = Buffer.from(png);
    big.writeUInt32BE(60000, 16);
    big.writeUInt32BE(60000, 20);
    big.writeUInt32BE(crc32(big.subarray(12, 29)) >>> 0, 29);
    const dir = folder({ "a.png": png, "b.png": big });
    refuses(() => loadImageDataset(dir), join(dir, "b.png"), /60000×60000, more than the 100000000 pixels/);
  });

  it("a .png file that is not a PNG is a DatasetError", () => {
    const dir = folder({ "a.png": "not an image" });
    refuses(() => loadImageDataset(dir), join(dir, "a.png"), /not a readable PNG/);
  });

  it("a folder without images, a missing path, mixed sizes, a too-small pad size", () => {
    const empty = folder({ "notes.txt": "x" });
    refuses(() => loadImageDataset(empty), empty, /expected PNG or binary PGM.*found none/);
    const missing = join(tmp, "no-such-dir");
    refuses(() => loadImageDataset(missing), missing, /no such dataset/);
    const mixed = folder({ "a.png": png, "b.png": encodePng(new Uint8Array(9), 3, 3, 1) });
    refuses(() => loadImageDataset(mixed), join(mixed, "b.png"), /every image must have one size/);
    const ds = loadImageDataset(folder({ "a.png": png }));
    refuses(() => padToSize(ds, 1), ds.source, /larger than the requested size 1/);
  });
});
