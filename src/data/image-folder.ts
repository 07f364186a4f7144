/**
 * Image folders in the ImageNet training layout, as torchvision's `ImageFolder`
 * reads them (what the official DiT `train.py` uses):
 *
 *   root/<class>/**.{jpg,jpeg,png,…}
 *
 * Classes are the sub-folders in sorted order, numbered 0, 1, …; files are
 * found recursively (sorted folder by folder, as `os.walk` + `sorted`), by
 * extension, case-insensitive. Decoding is lazy: `getImage(i)` reads and
 * preprocesses one file (ADM's centre crop, `centerCropArr`).
 */
import { readdirSync, readFileSync, statSync, type Dirent } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { DatasetError, errorMessage } from "./errors.js";
import { decodeImage, toChannels, toFloat } from "./image.js";
import { centerCropArr } from "./resize.js";

/** torchvision's IMG_EXTENSIONS. */
export const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"];
/** The ones this project decodes. */
export const DECODED_EXTENSIONS = [".jpg", ".jpeg", ".png", ".ppm", ".pgm"];

export interface ImageFolderOptions {
  /** Output size S (images are S×S after the centre crop). */
  imageSize: number;
  /** 3 = RGB (torchvision's loader converts every image to RGB), 1 = grey. */
  channels: 1 | 3;
}

/** Every image file under `dir`, recursively: (sorted folder, sorted name) order. */
function walk(dir: string): string[] {
  const folders: [string, string[]][] = [];
  const visit = (d: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (e) {
      throw new DatasetError(d, `${d}: cannot list the folder (${errorMessage(e)})`, { cause: e });
    }
    const files: string[] = [];
    for (const e of entries) {
      const p = join(d, e.name);
      const isDir = e.isDirectory() || (e.isSymbolicLink() && statSync(p, { throwIfNoEntry: false })?.isDirectory() === true);
      if (isDir) visit(p);
      else if (IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase())) files.push(e.name);
    }
    folders.push([d, files.sort()]);
  };
  visit(dir);
  folders.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return folders.flatMap(([d, fs]) => fs.map((f) => join(d, f)));
}

/** The class sub-folders of `root` (sorted), or [] when it has none. */
export function classFolders(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() || (e.isSymbolicLink() && statSync(join(root, e.name), { throwIfNoEntry: false })?.isDirectory() === true))
    .map((e) => e.name)
    .sort();
}

/** A lazily decoded ImageNet-layout folder. */
export class ImageFolder {
  readonly root: string;
  /** Class names: the sub-folder names, sorted; label k is classNames[k]. */
  readonly classNames: string[];
  /** Every image file, in dataset order. */
  readonly files: string[];
  /** (N) class of each file. */
  readonly labels: Int32Array;
  readonly options: ImageFolderOptions;

  constructor(root: string, options: ImageFolderOptions) {
    this.root = root;
    this.options = options;
    this.classNames = classFolders(root);
    if (this.classNames.length === 0) {
      throw new DatasetError(root, `${root}: expected the ImageNet layout, one sub-folder of images per class (root/<class>/*.JPEG); found no sub-folders`);
    }
    const files: string[] = [];
    const labels: number[] = [];
    this.classNames.forEach((name, k) => {
      const found = walk(join(root, name));
      if (found.length === 0) {
        throw new DatasetError(join(root, name), `${join(root, name)}: class folder '${name}' holds no image (${IMAGE_EXTENSIONS.join(", ")}); every class needs at least one, as torchvision's ImageFolder requires`);
      }
      for (const f of found) {
        files.push(f);
        labels.push(k);
      }
    });
    const undecodable = files.filter((f) => !DECODED_EXTENSIONS.includes(extname(f).toLowerCase()));
    if (undecodable.length) {
      throw new DatasetError(root, `${root}: ${undecodable.length} image(s) in a format this project cannot decode (e.g. ${relative(root, undecodable[0]!).split(sep).join("/")}); convert them to PNG or JPEG`);
    }
    this.files = files;
    this.labels = Int32Array.from(labels);
  }

  get numImages(): number {
    return this.files.length;
  }

  /** Image i: decoded, converted to the requested channels, centre-cropped; (C, S, S) float32 in [-1, 1]. */
  getImage(i: number): Float32Array {
    if (!Number.isInteger(i) || i < 0 || i >= this.files.length) throw new RangeError(`getImage: index ${i} outside 0..${this.files.length - 1}`);
    const path = this.files[i]!;
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (e) {
      throw new DatasetError(path, `${path}: cannot read the image (${errorMessage(e)})`, { cause: e });
    }
    const img = toChannels(decodeImage(buf, path), this.options.channels);
    return toFloat(centerCropArr(img, this.options.imageSize));
  }
}
