/**
 * ImageNet-layout folders (torchvision ImageFolder numbering), PNG / JPEG
 * decoding, and ADM's centre crop (`center_crop_arr`): geometry derived by
 * hand, and byte-exact agreement with PIL where /usr/bin/python3 has Pillow.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { DatasetError, centerCropArr, decodeImage, flipHorizontal, openDataset, openImageSource, resize, roundHalfEven, type U8Image } from "../../src/data/index.js";

const tmp = mkdtempSync(join(tmpdir(), "dit-data-folder-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** An RGBA PNG (or grey, colorType 0) of w×h with pixel (x, y) = f(x, y) as [r, g, b]. */
function png(w: number, h: number, f: (x: number, y: number) => [number, number, number], grey = false): Buffer {
  const p = new PNG({ width: w, height: h, colorType: grey ? 0 : 6, inputColorType: 6 });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) p.data.set([...f(x, y), 255], (y * w + x) * 4);
  return PNG.sync.write(p, { colorType: grey ? 0 : 6, inputColorType: 6 });
}

function jpg(w: number, h: number, rgb: [number, number, number]): Buffer {
  const data = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) data.set([...rgb, 255], i * 4);
  return jpeg.encode({ width: w, height: h, data }, 95).data;
}

function write(path: string, bytes: Buffer): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, bytes);
}

describe("ImageNet-layout folders", () => {
  const root = join(tmp, "imagenet");
  // classes sort by code point, as Python's sorted(): "Mango" < "apple" < "zebra"
  write(join(root, "zebra", "z1.png"), png(20, 12, () => [200, 10, 10]));
  write(join(root, "apple", "b.JPEG"), jpg(16, 16, [30, 200, 90]));
  write(join(root, "apple", "a.png"), png(12, 20, () => [0, 0, 255]));
  write(join(root, "apple", "sub", "c.png"), png(8, 8, () => [77, 77, 77], true));
  write(join(root, "Mango", "m.jpg"), jpg(8, 8, [250, 250, 250]));
  write(join(root, "apple", "notes.txt"), Buffer.from("not an image"));

  it("numbers classes in sorted folder order and lists files as torchvision's ImageFolder", () => {
    const src = openImageSource(root, { imageSize: 8 });
    assert.deepEqual(src.classNames, ["Mango", "apple", "zebra"]);
    assert.equal(src.numImages, 5);
    assert.deepEqual([...src.labels], [0, 1, 1, 1, 2]);
    assert.match(src.description, /5 images .* in 3 classes \[Mango, apple, zebra\]/);
    assert.match(src.description, /2 \.jpeg|1 \.jpeg/);
  });

  it("decodes PNG and JPEG to RGB in [-1, 1] (grey PNG repeated on 3 channels); JPEG within a few levels", () => {
    const ds = openDataset(root, { imageSize: 8 });
    assert.deepEqual(ds.shape, [5, 3, 8, 8]);
    const level = (i: number, c: number) => Math.round(((ds.images[(i * 3 + c) * 64 + 27]! + 1) / 2) * 255);
    // files in order: Mango/m.jpg, apple/a.png, apple/b.JPEG, apple/sub/c.png, zebra/z1.png
    for (const [c, v] of [250, 250, 250].entries()) assert.ok(Math.abs(level(0, c) - v) <= 3, `jpeg white: ${level(0, c)}`);
    assert.deepEqual([0, 1, 2].map((c) => level(1, c)), [0, 0, 255]);
    for (const [c, v] of [30, 200, 90].entries()) assert.ok(Math.abs(level(2, c) - v) <= 3, `jpeg colour channel ${c}: ${level(2, c)} vs ${v}`);
    assert.deepEqual([0, 1, 2].map((c) => level(3, c)), [77, 77, 77]);
    assert.deepEqual([0, 1, 2].map((c) => level(4, c)), [200, 10, 10]);
  });

  it("channels 1 converts RGB to grey with PIL's luma (299/587/114)", () => {
    const ds = openDataset(root, { imageSize: 8, channels: 1 });
    assert.deepEqual(ds.shape, [5, 1, 8, 8]);
    // (19595·200 + 38470·10 + 7471·10 + 32768) >> 16 = 4411178 >> 16 = 67 (0.299·200 + 0.587·10 + 0.114·10 = 66.8)
    assert.equal(Math.round(((ds.images[4 * 64]! + 1) / 2) * 255), 67);
  });

  it("a split sub-folder (root/train/<class>) is used when split is given", () => {
    const r = join(tmp, "withsplit");
    write(join(r, "train", "b", "x.png"), png(4, 4, () => [1, 2, 3]));
    write(join(r, "train", "a", "x.png"), png(4, 4, () => [1, 2, 3]));
    assert.deepEqual(openImageSource(r, { imageSize: 4, split: "train" }).classNames, ["a", "b"]);
  });

  it("bad folders and files get a DatasetError naming the file", () => {
    const empty = join(tmp, "emptyclass");
    write(join(empty, "a", "x.png"), png(4, 4, () => [0, 0, 0]));
    mkdirSync(join(empty, "b"));
    assert.throws(() => openImageSource(empty), (e: unknown) => e instanceof DatasetError && /class folder 'b' holds no image/.test(e.message));
    const webp = join(tmp, "webp");
    write(join(webp, "a", "x.webp"), Buffer.from("RIFF....WEBP"));
    assert.throws(() => openImageSource(webp), (e: unknown) => e instanceof DatasetError && /cannot decode \(e\.g\. a\/x\.webp\); convert them to PNG or JPEG/.test(e.message));
    const bad = join(tmp, "corrupt");
    const good = jpg(16, 16, [1, 2, 3]);
    write(join(bad, "a", "cut.jpg"), good.subarray(0, 40));
    write(join(bad, "a", "junk.png"), Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from(" garbage")]));
    write(join(bad, "a", "text.png"), Buffer.from("hello"));
    const src = openImageSource(bad, { imageSize: 8 });
    const files = ["cut.jpg", "junk.png", "text.png"];
    const why = [/not a readable JPEG/, /not a readable PNG/, /not a PNG, JPEG or binary PGM\/PPM image/];
    files.forEach((f, i) => assert.throws(() => src.getImage(i), (e: unknown) => e instanceof DatasetError && e.message.includes(f) && why[i]!.test(e.message), f));
  });

  it("a PNG named .JPEG (as a few ImageNet files are) is decoded by its content", () => {
    assert.deepEqual([...decodeImage(png(2, 1, () => [9, 8, 7]), "x.JPEG").data], [9, 9, 8, 8, 7, 7]);
  });
});

describe("ADM center_crop_arr", () => {
  const plane = (w: number, h: number, f: (x: number, y: number) => number): U8Image => {
    const data = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = f(x, y);
    return { channels: 1, height: h, width: w, data };
  };

  it("64×48 (W×H) → 32×32: resize to 43×32, crop 5 px from the left; a vertical edge at x = 32 lands on column 16", () => {
    // min side 48 < 64: no BOX halving; scale 32/48 → (round(42.67), 32) = (43, 32); crop_x = (43 − 32) // 2 = 5.
    // the edge at input x = 32 maps to 32·43/64 = 21.5 in the resized image, 16.5 after the crop: output
    // column 16 (centre 16.5) straddles it symmetrically → mid-grey; columns ≤ 14 see only black input
    // pixels (their taps end before x = 32), columns ≥ 18 only white ones.
    const out = centerCropArr(plane(64, 48, (x) => (x < 32 ? 0 : 255)), 32);
    assert.deepEqual([out.height, out.width], [32, 32]);
    const row = [...out.data.subarray(0, 32)];
    for (let y = 1; y < 32; y++) assert.deepEqual([...out.data.subarray(y * 32, y * 32 + 32)], row, `row ${y}`);
    for (let x = 0; x <= 14; x++) assert.equal(row[x], 0, `column ${x}`);
    assert.ok(row[16] === 127 || row[16] === 128, `column 16: ${row[16]}`);
    for (let x = 18; x < 32; x++) assert.equal(row[x], 255, `column ${x}`);
  });

  it("halves with BOX while the short side ≥ 2·size: a 1-pixel checkerboard 256×200 → 64 becomes uniform 128", () => {
    // 256×200 → BOX 128×100 (each output averages one black and one white pixel per row and
    // column: (2²¹ + 255·2²¹) >> 22 = 128) → short side 100 < 128 stops; bicubic of a constant is the constant.
    const out = centerCropArr(plane(256, 200, (x, y) => ((x + y) % 2 ? 255 : 0)), 64);
    assert.deepEqual([out.height, out.width], [64, 64]);
    assert.ok(out.data.every((v) => v === 128));
  });

  it("BICUBIC (a = −0.5), antialiased: 4 → 2 pixels by hand", () => {
    // output 0: centre 1, kernel stretched ×2, taps x = 0..3 at (x − 1 + ½)/2 = −¼, ¼, ¾, 1¼:
    // K = 0.8671875, 0.8671875, 0.2265625, −0.0703125 (sum 1.890625); input [0, 0, 255, 0] → 255·0.2265625/1.890625 = 30.56 → 31
    const out = resize(plane(4, 1, (x) => (x === 2 ? 255 : 0)), 2, 1, "bicubic");
    assert.equal(out.data[0], 31);
    // input [255, 255, 255, 0]: 255·1.9609375/1.890625 = 264.5 → clipped to 255
    assert.equal(resize(plane(4, 1, (x) => (x < 3 ? 255 : 0)), 2, 1, "bicubic").data[0], 255);
  });

  it("Python's round(): ties to even", () => {
    assert.deepEqual([0.5, 1.5, 2.5, 42.5, 42.67, 3.49].map(roundHalfEven), [0, 2, 2, 42, 43, 3]);
  });

  it("flipHorizontal reverses every row", () => {
    assert.deepEqual([...flipHorizontal(Float32Array.of(1, 2, 3, 4, 5, 6), 3)], [3, 2, 1, 6, 5, 4]);
    assert.throws(() => flipHorizontal(new Float32Array(5), 3), RangeError);
  });

  describe("byte-exact against PIL (Pillow under /usr/bin/python3)", () => {
    const cases = [
      { name: "64x48-grey-to-32", w: 64, h: 48, c: 1, size: 32 },
      { name: "37x23-rgb-to-8 (box, then bicubic down)", w: 37, h: 23, c: 3, size: 8 },
      { name: "200x136-rgb-to-32 (two box halvings)", w: 200, h: 136, c: 3, size: 32 },
      { name: "13x17-grey-to-32 (bicubic up)", w: 13, h: 17, c: 1, size: 32 },
      { name: "333x500-rgb-to-64 (portrait)", w: 333, h: 500, c: 3, size: 64 },
    ];
    const script = `
import sys, json
import numpy as np
from PIL import Image
def center_crop_arr(pil_image, image_size):  # guided_diffusion/image_datasets.py, as DiT's train.py
    while min(*pil_image.size) >= 2 * image_size:
        pil_image = pil_image.resize(tuple(x // 2 for x in pil_image.size), resample=Image.BOX)
    scale = image_size / min(*pil_image.size)
    pil_image = pil_image.resize(tuple(round(x * scale) for x in pil_image.size), resample=Image.BICUBIC)
    arr = np.array(pil_image)
    crop_y = (arr.shape[0] - image_size) // 2
    crop_x = (arr.shape[1] - image_size) // 2
    return arr[crop_y: crop_y + image_size, crop_x: crop_x + image_size]
out = []
for c in json.loads(sys.stdin.read()):
    w, h, ch, size = c["w"], c["h"], c["c"], c["size"]
    y, x = np.mgrid[0:h, 0:w]
    planes = [((x * 37 + y * 11 + k * 71 + (x * y) % 13 * 9) % 256).astype(np.uint8) for k in range(ch)]
    img = Image.fromarray(np.stack(planes, -1) if ch == 3 else planes[0], "RGB" if ch == 3 else "L")
    r = center_crop_arr(img, size)
    out.append((r.transpose(2, 0, 1) if ch == 3 else r[None]).reshape(-1).tolist())
print(json.dumps(out))
`;
    let want: number[][] | undefined;
    let why = "";
    try {
      want = JSON.parse(execFileSync("/usr/bin/python3", ["-c", script], { input: JSON.stringify(cases), maxBuffer: 1 << 26, stdio: ["pipe", "pipe", "pipe"] }).toString());
    } catch (e) {
      why = `/usr/bin/python3 with Pillow and numpy is not available (${(e instanceof Error ? e.message : String(e)).split("\n")[0]})`;
    }
    cases.forEach((c, i) => {
      it(c.name, { skip: want ? false : why }, () => {
        const data = new Uint8Array(c.c * c.h * c.w);
        for (let k = 0; k < c.c; k++) for (let y = 0; y < c.h; y++) for (let x = 0; x < c.w; x++) data[(k * c.h + y) * c.w + x] = (x * 37 + y * 11 + k * 71 + ((x * y) % 13) * 9) % 256;
        const got = centerCropArr({ channels: c.c, height: c.h, width: c.w, data }, c.size);
        assert.deepEqual([...got.data], want![i]);
      });
    });
  });
});
