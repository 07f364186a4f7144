/**
 * Labelled IDX datasets (MNIST / Fashion-MNIST layout) through openDataset:
 * folders and single files, gzipped or not, padding 28 → 32, class names, and
 * typed errors for missing, truncated, corrupt and mismatched files.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { after, describe, it } from "node:test";
import { DatasetError, FASHION_MNIST_CLASSES, MNIST_CLASSES, encodeIdxLabels, openDataset, openImageSource } from "../../src/data/index.js";
import { encodeIdxImages } from "../../src/io/datasets.js";

const tmp = mkdtempSync(join(tmpdir(), "dit-data-idx-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const N = 5;
/** A known pattern: pixel (i, y, x) = (37·i + 3·y + 5·x) mod 256. */
const pixel = (i: number, y: number, x: number) => (37 * i + 3 * y + 5 * x) % 256;
const pixels = Uint8Array.from({ length: N * 28 * 28 }, (_, k) => pixel(Math.floor(k / 784), Math.floor((k % 784) / 28), k % 28));
const labels = [3, 0, 9, 1, 3];

function writeIdxFolder(dir: string, opts: { gzip: boolean; prefix?: string; labels?: number[]; images?: Buffer }): string {
  mkdirSync(dir, { recursive: true });
  const gz = (b: Buffer) => (opts.gzip ? gzipSync(b) : b);
  const ext = opts.gzip ? ".gz" : "";
  const prefix = opts.prefix ?? "train";
  writeFileSync(join(dir, `${prefix}-images-idx3-ubyte${ext}`), gz(opts.images ?? encodeIdxImages(pixels, N, 28, 28)));
  writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte${ext}`), gz(encodeIdxLabels(opts.labels ?? labels)));
  return dir;
}

/** Checks the 28×28 pattern sits at (2, 2) of a 32×32 canvas of −1. */
function assertPadded(images: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
        const want = inside ? (pixel(i, y - 2, x - 2) / 255) * 2 - 1 : -1;
        const got = images[(i * 32 + y) * 32 + x]!;
        if (Math.abs(got - want) > 1e-7) assert.fail(`image ${i} (${y}, ${x}): got ${got}, want ${want}`);
      }
    }
  }
}

describe("openDataset: IDX folders and files", () => {
  for (const gzip of [false, true]) {
    it(`reads a ${gzip ? "gzipped" : "plain"} IDX folder: 28×28 padded to 32×32 (2 px each side, −1), labels, digits as class names`, () => {
      const dir = writeIdxFolder(join(tmp, `mnist-${gzip}`), { gzip });
      const ds = openDataset(dir);
      assert.deepEqual(ds.shape, [N, 1, 32, 32]);
      assert.deepEqual([...ds.labels], labels);
      assert.equal(ds.numClasses, 10);
      assert.deepEqual(ds.classNames, MNIST_CLASSES);
      assertPadded(ds.images, N);
      assert.match(ds.description, /5 grey images 28×28 → padded to 32×32/);
      assert.match(ds.description, /train split/);
    });
  }

  it("a folder whose path says 'fashion' gets Fashion-MNIST's class names; the option overrides", () => {
    const dir = writeIdxFolder(join(tmp, "my-fashion-mnist"), { gzip: true });
    const ds = openDataset(dir);
    assert.deepEqual(ds.classNames, FASHION_MNIST_CLASSES);
    assert.equal(ds.classNames![9], "Ankle boot");
    assert.match(ds.description, /^Fashion-MNIST IDX/);
    assert.deepEqual(openDataset(dir, { classNames: "mnist" }).classNames, MNIST_CLASSES);
  });

  it("the test split reads t10k-* files", () => {
    const dir = writeIdxFolder(join(tmp, "split"), { gzip: false });
    writeIdxFolder(dir, { gzip: true, prefix: "t10k", labels: [1, 1, 1, 1, 1] });
    assert.deepEqual([...openDataset(dir, { split: "test" }).labels], [1, 1, 1, 1, 1]);
    assert.deepEqual([...openDataset(dir, { split: "train" }).labels], labels);
  });

  it("a single IDX image file finds its labels beside it", () => {
    const dir = writeIdxFolder(join(tmp, "single"), { gzip: true });
    const ds = openDataset(join(dir, "train-images-idx3-ubyte.gz"));
    assert.deepEqual([...ds.labels], labels);
    assertPadded(ds.images, N);
  });

  it("imageSize 28 keeps the images as they are; 36 pads 4 px each side", () => {
    const dir = writeIdxFolder(join(tmp, "sizes"), { gzip: false });
    const same = openDataset(dir, { imageSize: 28 });
    assert.deepEqual(same.shape, [N, 1, 28, 28]);
    assert.equal(same.images[28 + 1], Math.fround((pixel(0, 1, 1) / 255) * 2 - 1));
    const big = openDataset(dir, { imageSize: 36 });
    assert.equal(big.images[3 * 36 + 3], -1);
    assert.equal(big.images[4 * 36 + 4], Math.fround((pixel(0, 0, 0) / 255) * 2 - 1));
  });

  it("on demand: getImage(i) equals image i of the in-memory dataset", () => {
    const dir = writeIdxFolder(join(tmp, "lazy"), { gzip: false });
    const src = openImageSource(dir);
    const ds = openDataset(dir);
    assert.equal(src.numImages, N);
    assert.deepEqual(src.getImage(3), ds.images.subarray(3 * 1024, 4 * 1024));
  });
});

describe("openDataset: bad input gets a DatasetError that says what was expected", () => {
  const isDatasetError = (re: RegExp) => (e: unknown) => e instanceof DatasetError && re.test(e.message);

  it("a missing path names the Debian package and the path", () => {
    const missing = join(tmp, "does-not-exist");
    assert.throws(() => openDataset(missing), (e: unknown) => isDatasetError(/dataset-fashion-mnist/)(e) && (e as Error).message.includes(missing) && (e as Error).message.includes("/usr/share/datasets/fashion-mnist"));
  });

  it("an empty folder names the Debian package and the expected files", () => {
    const empty = join(tmp, "empty");
    mkdirSync(empty);
    assert.throws(() => openDataset(empty), isDatasetError(/no dataset found: expected a folder of MNIST-style IDX files.*dataset-fashion-mnist/));
  });

  it("images without their labels file", () => {
    const dir = join(tmp, "nolabels");
    mkdirSync(dir);
    writeFileSync(join(dir, "train-images-idx3-ubyte"), encodeIdxImages(pixels, N, 28, 28));
    assert.throws(() => openDataset(dir), isDatasetError(/found the images but not their labels \(tried .*train-labels-idx1-ubyte\.gz/));
  });

  it("label count ≠ image count", () => {
    const dir = writeIdxFolder(join(tmp, "mismatch"), { gzip: false, labels: [1, 2, 3] });
    assert.throws(() => openDataset(dir), isDatasetError(/3 labels, but .*train-images-idx3-ubyte has 5 images/));
  });

  it("a truncated image file, plain and gzipped", () => {
    const full = encodeIdxImages(pixels, N, 28, 28);
    const cut = full.subarray(0, full.length - 100);
    const plain = writeIdxFolder(join(tmp, "cut-plain"), { gzip: false, images: Buffer.from(cut) });
    assert.throws(() => openDataset(plain), isDatasetError(/truncated: the header declares 5 images of 28×28 \(3936 bytes\) but the file has 3836 bytes/));
    const gz = writeIdxFolder(join(tmp, "cut-gz"), { gzip: true });
    const file = join(gz, "train-images-idx3-ubyte.gz");
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 20));
    assert.throws(() => openDataset(gz), isDatasetError(/corrupt or truncated gzip stream/));
  });

  it("a truncated labels file and a labels file in place of images", () => {
    const dir = writeIdxFolder(join(tmp, "cut-labels"), { gzip: false });
    writeFileSync(join(dir, "train-labels-idx1-ubyte"), encodeIdxLabels(labels).subarray(0, 10));
    assert.throws(() => openDataset(dir), isDatasetError(/truncated: the header declares 5 labels but the file has 2/));
    const swapped = writeIdxFolder(join(tmp, "swapped"), { gzip: false, images: encodeIdxLabels(labels) });
    assert.throws(() => openDataset(swapped), isDatasetError(/IDX label file, not images/));
  });

  it("garbage bytes and an empty file", () => {
    const dir = writeIdxFolder(join(tmp, "garbage"), { gzip: false, images: Buffer.from("this is not an idx file at all") });
    assert.throws(() => openDataset(dir), isDatasetError(/magic 0x74686973; expected an IDX image file/));
    const empty = writeIdxFolder(join(tmp, "zero"), { gzip: false, images: Buffer.alloc(0) });
    assert.throws(() => openDataset(empty), isDatasetError(/0 bytes is too short/));
  });

  it("a label outside the class names, and an image larger than the requested size", () => {
    const dir = writeIdxFolder(join(tmp, "fashion-bad-label"), { gzip: false, labels: [0, 1, 2, 3, 12] });
    assert.throws(() => openDataset(dir), isDatasetError(/label 12 is outside the 10 class names/));
    const ok = writeIdxFolder(join(tmp, "small-size"), { gzip: false });
    assert.throws(() => openDataset(ok, { imageSize: 16, fit: "pad" }), isDatasetError(/larger than the requested size 16/));
  });
});
