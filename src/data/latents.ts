/**
 * Pre-extracted VAE latents: the encoder runs once over a dataset, and for
 * every image and its mirror image the latent distribution q(z|x) = N(mean,
 * exp(logvar)) is stored, so training still draws z = (mean + exp(½·logvar)·ε)
 * · scaling_factor and flips with probability ½, as the official `train.py`
 * does on the fly (fast-DiT froze one sample and one flip per image; we don't).
 *
 * One file, read with positional reads (little-endian):
 *
 *   [0, 8)          magic "DITLAT01"
 *   [8, 12)         uint32 H: byte length of the JSON header (space-padded)
 *   [12, 16)        uint32 0 (reserved)
 *   [16, 24)        uint64 completed: records written and synced so far
 *   [24, 24+H)      JSON header (LatentHeader)
 *   [labelsOffset)  int32 labels (N)
 *   [dataOffset)    N records of float32: mean, logvar, mean of the mirror image,
 *                   logvar of the mirror image, each (c, h, w); dataOffset is a multiple of 64
 *
 * While extracting, the file is `<out>.partial`; it is renamed to `<out>`
 * once every record is written and synced. An interrupted extraction resumes
 * from `completed` (a record is counted only after it was synced; bytes past
 * the last counted record are overwritten). The header records fingerprints
 * of the dataset and the VAE weights, and a partial file whose header does not
 * match the requested job is refused.
 */
import { createHash } from "node:crypto";
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, renameSync, statSync, writeSync } from "node:fs";
import { endianness } from "node:os";
import { dirname } from "node:path";
import { AutoencoderKL } from "../vae/autoencoder.js";
import { downsampleFactor, type VaeConfig } from "../vae/config.js";
import { loadVae } from "../vae/load.js";
import { Tensor } from "../runtime/tensor.js";
import { inMemorySource, openImageSource, type ImageSource, type LabeledImageDataset, type OpenDatasetOptions } from "./dataset.js";
import { DatasetError, errorMessage } from "./errors.js";
import { flipHorizontal } from "./image.js";

export const LATENT_MAGIC = "DITLAT01";
const PREAMBLE = 24;
const ALIGN = 64;
const MAX_HEADER = 1 << 28;
const FORMAT = "dit-latents";
const VERSION = 1;

if (endianness() !== "LE") throw new Error("dit latent files are little-endian; this platform is big-endian");

/** The JSON header of a latent file. */
export interface LatentHeader {
  format: typeof FORMAT;
  version: number;
  /** N: images (each record holds the image and its mirror). */
  count: number;
  /** [c, h, w] of one latent. */
  latentShape: [number, number, number];
  /** [C, S, S] of the images that were encoded. */
  imageShape: [number, number, number];
  numClasses: number;
  classNames: string[] | null;
  /** DiT latents are z · scalingFactor (applied by the trainer, not stored). */
  scalingFactor: number;
  /** The dataset's files and what was found in them. */
  source: string;
  description: string;
  /** sha256 of the dataset's files and preprocessing (ImageSource.fingerprint). */
  datasetFingerprint: string;
  /** sha256 of the VAE's config and weights. */
  vaeFingerprint: string;
  vaeConfig: VaeConfig;
  /** The VAE path, when given as one (informative; not compared on resume). */
  vaeSource: string | null;
  labelsOffset: number;
  dataOffset: number;
  /** 4 · 4 · c·h·w. */
  recordBytes: number;
  recordLayout: string;
}

/** One stored latent distribution. */
export interface LatentRecord {
  /** (c, h, w) posterior mean. */
  mean: Float32Array;
  /** (c, h, w) posterior log-variance, clamped to [−30, 20] as diffusers' DiagonalGaussianDistribution. */
  logvar: Float32Array;
  label: number;
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

/** The preamble + JSON bytes of a header (offsets filled in), and its offsets. */
function encodeHeader(h: Omit<LatentHeader, "labelsOffset" | "dataOffset">): { bytes: Uint8Array; header: LatentHeader } {
  // the offsets depend on the JSON length, which depends on the offsets: fix the point with padding
  let header: LatentHeader = { ...h, labelsOffset: 0, dataOffset: 0 };
  for (let guess = align(PREAMBLE + Buffer.byteLength(JSON.stringify(header)) + 64); ; guess += ALIGN) {
    const labelsOffset = guess;
    const dataOffset = align(labelsOffset + 4 * h.count);
    header = { ...h, labelsOffset, dataOffset };
    const json = Buffer.from(JSON.stringify(header));
    if (PREAMBLE + json.length > labelsOffset) continue;
    const bytes = new Uint8Array(labelsOffset);
    bytes.set(Buffer.from(LATENT_MAGIC, "latin1"), 0);
    const view = new DataView(bytes.buffer);
    view.setUint32(8, labelsOffset - PREAMBLE, true);
    view.setUint32(12, 0, true);
    view.setBigUint64(16, 0n, true);
    bytes.fill(0x20, PREAMBLE);
    bytes.set(json, PREAMBLE);
    return { bytes, header };
  }
}

function readExact(fd: number, path: string, length: number, position: number, what: string): Uint8Array {
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) throw new DatasetError(path, `${path}: truncated: ${what} needs ${length} bytes at offset ${position}, the file ends after ${got}`);
    got += n;
  }
  return buf;
}

function writeAll(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, position + done);
}

/** A short description of an untrusted header value for an error message (bounded; no deep recursion). */
function describe(v: unknown): string {
  if (v === null || typeof v !== "object") return typeof v === "string" ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : String(v);
  if (!Array.isArray(v)) return "an object";
  if (v.length > 8 || v.some((x) => x !== null && typeof x === "object")) return `an array of ${v.length}`;
  return `[${v.map((x) => describe(x)).join(", ")}]`;
}

/** Parse and check the header of an open latent file; returns it and the completed count. */
function readHeader(fd: number, path: string): { header: LatentHeader; completed: number; size: number } {
  const size = fstatSync(fd).size;
  if (size < PREAMBLE) throw new DatasetError(path, `${path}: ${size} bytes is too short for a dit latent file (${PREAMBLE}-byte preamble, magic ${LATENT_MAGIC})`);
  const pre = readExact(fd, path, PREAMBLE, 0, "the preamble");
  const magic = Buffer.from(pre.subarray(0, 8)).toString("latin1");
  if (magic !== LATENT_MAGIC) throw new DatasetError(path, `${path}: not a dit latent file (magic ${JSON.stringify(magic)}, expected ${LATENT_MAGIC})`);
  const view = new DataView(pre.buffer);
  const hLen = view.getUint32(8, true);
  const completedBig = view.getBigUint64(16, true);
  if (hLen > MAX_HEADER || PREAMBLE + hLen > size) throw new DatasetError(path, `${path}: truncated or corrupt: the header declares ${hLen} JSON bytes, the file has ${size - PREAMBLE} after the preamble`);
  let h: LatentHeader;
  try {
    h = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(readExact(fd, path, hLen, PREAMBLE, "the JSON header"))) as LatentHeader;
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(path, `${path}: corrupt JSON header (${errorMessage(e)})`, { cause: e });
  }
  const bad = (what: string) => new DatasetError(path, `${path}: corrupt header: ${what}`);
  if (typeof h !== "object" || h === null || Array.isArray(h)) throw bad(`the JSON header is ${Array.isArray(h) ? "an array" : typeof h === "object" ? "null" : `a ${typeof h}`}, expected an object`);
  if (h.format !== FORMAT) throw bad(`format is ${describe(h.format)}, expected "${FORMAT}"`);
  if (h.version !== VERSION) throw bad(`version ${String(h.version)}; this reader knows version ${VERSION}`);
  const isDims = (a: unknown) => Array.isArray(a) && a.length === 3 && a.every((v) => Number.isInteger(v) && v > 0);
  if (!Number.isInteger(h.count) || h.count <= 0) throw bad(`count ${String(h.count)}`);
  if (!isDims(h.latentShape) || !isDims(h.imageShape)) throw bad(`latentShape ${describe(h.latentShape)} / imageShape ${describe(h.imageShape)}, expected [c, h, w] of positive integers`);
  if (!Number.isInteger(h.numClasses) || h.numClasses <= 0) throw bad(`numClasses ${describe(h.numClasses)}`);
  if (!(typeof h.scalingFactor === "number" && h.scalingFactor > 0 && Number.isFinite(h.scalingFactor))) throw bad(`scalingFactor ${describe(h.scalingFactor)}`);
  if (h.classNames !== null && !(Array.isArray(h.classNames) && h.classNames.length === h.numClasses && h.classNames.every((n) => typeof n === "string"))) {
    throw bad(`classNames must be null or ${h.numClasses} strings, got ${describe(h.classNames)}`);
  }
  for (const k of ["source", "description", "datasetFingerprint", "vaeFingerprint", "recordLayout"] as const) {
    if (typeof h[k] !== "string") throw bad(`${k} ${describe(h[k])}, expected a string`);
  }
  if (h.vaeSource !== null && typeof h.vaeSource !== "string") throw bad(`vaeSource ${describe(h.vaeSource)}, expected a string or null`);
  const vc = h.vaeConfig as unknown as Record<string, unknown> | null;
  const vaeOk =
    typeof vc === "object" &&
    vc !== null &&
    ["inChannels", "outChannels", "layersPerBlock", "latentChannels", "normNumGroups"].every((k) => Number.isInteger(vc[k]) && (vc[k] as number) > 0) &&
    Array.isArray(vc.blockOutChannels) &&
    vc.blockOutChannels.every((v) => Number.isInteger(v) && v > 0) &&
    typeof vc.scalingFactor === "number";
  if (!vaeOk) throw bad(`vaeConfig ${describe(vc)} is not a VAE config (inChannels, outChannels, blockOutChannels, layersPerBlock, latentChannels, normNumGroups, scalingFactor)`);
  const L = h.latentShape[0] * h.latentShape[1] * h.latentShape[2];
  if (h.recordBytes !== 16 * L) throw bad(`recordBytes ${h.recordBytes}, expected 16 · ${L}`);
  if (h.labelsOffset !== PREAMBLE + hLen || h.dataOffset !== align(h.labelsOffset + 4 * h.count)) throw bad(`offsets ${h.labelsOffset}/${h.dataOffset} do not follow the header length ${hLen}`);
  const completed = Number(completedBig);
  if (completed > h.count) throw bad(`completed ${completed} > count ${h.count}`);
  return { header: h, completed, size };
}

/** A latent file, read record by record with positional reads. */
export class LatentDataset {
  readonly path: string;
  readonly header: LatentHeader;
  /** (N) class ids. */
  readonly labels: Int32Array;
  private fd: number | undefined;

  private constructor(path: string, fd: number, header: LatentHeader, labels: Int32Array) {
    this.path = path;
    this.fd = fd;
    this.header = header;
    this.labels = labels;
  }

  /** Open and validate a complete latent file (typed `DatasetError` naming the file when truncated, corrupt or unfinished). */
  static open(path: string): LatentDataset {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      throw new DatasetError(path, `${path}: cannot open the latent file (${errorMessage(e)})`, { cause: e });
    }
    try {
      const { header: h, completed, size } = readHeader(fd, path);
      if (completed < h.count) {
        throw new DatasetError(path, `${path}: unfinished: ${completed} of ${h.count} records; run the same 'dit extract-latents' command again to finish it`);
      }
      const want = h.dataOffset + h.count * h.recordBytes;
      if (size !== want) {
        throw new DatasetError(path, `${path}: ${size < want ? "truncated" : "corrupt"}: ${h.count} records of ${h.recordBytes} bytes end at ${want}, the file has ${size} bytes`);
      }
      const raw = readExact(fd, path, 4 * h.count, h.labelsOffset, "the labels");
      const labels = new Int32Array(raw.buffer, 0, h.count);
      for (let i = 0; i < labels.length; i++) {
        if (labels[i]! < 0 || labels[i]! >= h.numClasses) throw new DatasetError(path, `${path}: corrupt: label ${labels[i]} of record ${i} is outside 0..${h.numClasses - 1}`);
      }
      return new LatentDataset(path, fd, h, labels);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** N (records; each has the image and its mirror). */
  get length(): number {
    return this.header.count;
  }
  /** [c, h, w] */
  get latentShape(): [number, number, number] {
    return this.header.latentShape;
  }
  get numClasses(): number {
    return this.header.numClasses;
  }
  get classNames(): string[] | undefined {
    return this.header.classNames ?? undefined;
  }
  get scalingFactor(): number {
    return this.header.scalingFactor;
  }

  /** Record i: the latent distribution of image i, or of its mirror image when `flip`. */
  read(i: number, flip = false): LatentRecord {
    if (this.fd === undefined) throw new DatasetError(this.path, `${this.path}: read after close`);
    if (!Number.isInteger(i) || i < 0 || i >= this.header.count) throw new RangeError(`${this.path}: record ${i} outside 0..${this.header.count - 1}`);
    const half = this.header.recordBytes / 2;
    const buf = readExact(this.fd, this.path, half, this.header.dataOffset + i * this.header.recordBytes + (flip ? half : 0), `record ${i}`);
    const L = half / 8;
    const values = new Float32Array(buf.buffer, 0, 2 * L);
    for (let k = 0; k < values.length; k++) {
      if (!Number.isFinite(values[k]!)) {
        throw new DatasetError(this.path, `${this.path}: corrupt: record ${i}${flip ? " (mirror)" : ""} holds a non-finite ${k < L ? "mean" : "logvar"} value (${values[k]})`);
      }
    }
    return { mean: new Float32Array(buf.buffer, 0, L), logvar: new Float32Array(buf.buffer, 4 * L, L), label: this.labels[i]! };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** sha256 of a VAE's config and every weight (sorted by name): the identity of the encoder. */
export function vaeFingerprint(vae: AutoencoderKL): string {
  const h = createHash("sha256");
  h.update(JSON.stringify(vae.config));
  for (const k of [...vae.weights.keys()].sort()) {
    const t = vae.weights.get(k)!;
    const d = t.data as unknown as ArrayBufferView;
    h.update(`${k}:${t.shape.join("x")}:`);
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest("hex");
}

export interface ExtractLatentsOptions {
  /** The images: an ImageSource (on demand), an in-memory dataset, or a path for `openImageSource`. */
  dataset: ImageSource | LabeledImageDataset | string;
  /** With a path: how to open it. */
  datasetOptions?: OpenDatasetOptions;
  /** An AutoencoderKL, or a path for `loadVae` (the VAE is disposed afterwards). */
  vae: AutoencoderKL | string;
  /** The latent file to write (`<out>.partial` while in progress). */
  out: string;
  /** Images per encoder call (each also encodes its mirror image); default 32. */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  /** Stops cleanly after the batch in progress (Ctrl-C); the partial file resumes later. */
  signal?: AbortSignal;
}

export interface ExtractLatentsResult {
  out: string;
  count: number;
  /** Records that were already there (0 for a fresh start). */
  resumedFrom: number;
  /** All N records written (false when stopped by `signal`; the partial file is `<out>.partial`). */
  complete: boolean;
  header: LatentHeader;
}

function isImageSource(d: ImageSource | LabeledImageDataset): d is ImageSource {
  return typeof (d as ImageSource).getImage === "function";
}

/** Fields of two headers that differ (the VAE path is informative only; the offsets follow from the header's length). */
function headerDiff(a: LatentHeader, b: LatentHeader): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of ["vaeSource", "labelsOffset", "dataOffset"]) keys.delete(k);
  return [...keys].filter((k) => JSON.stringify((a as unknown as Record<string, unknown>)[k]) !== JSON.stringify((b as unknown as Record<string, unknown>)[k]));
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some file systems cannot fsync a directory; the rename itself is still atomic
  }
}

/**
 * Run the VAE encoder over a dataset: for each image x and its mirror x̃,
 * store q(z|x) and q(z|x̃) (mean, logvar) and the label in one file (layout in
 * the module comment). Resumes `<out>.partial` when it holds the same job;
 * returns at once when `<out>` is already the finished file of the same job.
 */
export async function extractLatents(opts: ExtractLatentsOptions): Promise<ExtractLatentsResult> {
  const batchSize = opts.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new RangeError(`extractLatents: batchSize must be a positive integer, got ${batchSize}`);
  const src = typeof opts.dataset === "string" ? openImageSource(opts.dataset, opts.datasetOptions) : isImageSource(opts.dataset) ? opts.dataset : inMemorySource(opts.dataset);
  const ownVae = typeof opts.vae === "string";
  const vae = typeof opts.vae === "string" ? loadVae(opts.vae) : opts.vae;
  try {
    const [C, S, S2] = src.imageShape;
    const c = vae.config;
    if (C !== c.inChannels) throw new DatasetError(src.source, `${src.source}: images have ${C} channel(s) but the VAE encodes ${c.inChannels}`);
    const f = downsampleFactor(c);
    if (S % f !== 0 || S2 % f !== 0) throw new DatasetError(src.source, `${src.source}: image size ${S}×${S2} is not divisible by the VAE's downsampling factor ${f}`);
    const latentShape: [number, number, number] = [c.latentChannels, S / f, S2 / f];
    const L = latentShape[0] * latentShape[1] * latentShape[2];
    const N = src.numImages;
    const { bytes: headerBytes, header } = encodeHeader({
      format: FORMAT,
      version: VERSION,
      count: N,
      latentShape,
      imageShape: [C, S, S2],
      numClasses: src.numClasses,
      classNames: src.classNames ?? null,
      scalingFactor: c.scalingFactor,
      source: src.source,
      description: src.description,
      datasetFingerprint: src.fingerprint,
      vaeFingerprint: vaeFingerprint(vae),
      vaeConfig: c,
      vaeSource: typeof opts.vae === "string" ? opts.vae : null,
      recordBytes: 16 * L,
      recordLayout: "float32 mean, logvar, mean of the mirror image, logvar of the mirror image, each latentShape (c, h, w)",
    });

    // a finished file of the same job: nothing to do; of another job: refuse
    if (statSync(opts.out, { throwIfNoEntry: false })) {
      const done = LatentDataset.open(opts.out);
      done.close();
      const diff = headerDiff(done.header, header);
      if (diff.length) throw new DatasetError(opts.out, `${opts.out} already holds latents of another job (differs in ${diff.join(", ")}); delete it or choose another output file`);
      opts.onProgress?.(N, N);
      return { out: opts.out, count: N, resumedFrom: N, complete: true, header: done.header };
    }

    const partial = `${opts.out}.partial`;
    let fd: number;
    let completed = 0;
    let h = header;
    if (statSync(partial, { throwIfNoEntry: false })) {
      fd = openSync(partial, "r+");
      try {
        const got = readHeader(fd, partial);
        const diff = headerDiff(got.header, header);
        if (diff.length) throw new DatasetError(partial, `${partial}: an interrupted extraction of another job (differs in ${diff.join(", ")}); delete it to start over, or resume it with the same dataset and VAE`);
        h = got.header;
        completed = got.completed;
        ftruncateSync(fd, h.dataOffset + completed * h.recordBytes);
      } catch (e) {
        closeSync(fd);
        throw e;
      }
    } else {
      fd = openSync(partial, "w+");
      writeAll(fd, headerBytes, 0);
      const labels = Int32Array.from(src.labels);
      writeAll(fd, new Uint8Array(labels.buffer), header.labelsOffset);
      ftruncateSync(fd, header.dataOffset);
      fsyncSync(fd);
      fsyncDir(dirname(partial));
    }
    const resumedFrom = completed;
    opts.onProgress?.(completed, N);
    const counter = new DataView(new ArrayBuffer(8));
    try {
      while (completed < N && !opts.signal?.aborted) {
        const b = Math.min(batchSize, N - completed);
        const per = C * S * S2;
        const x = new Float32Array(2 * b * per); // (2b, C, S, S): the images, then their mirror images
        for (let j = 0; j < b; j++) {
          const img = src.getImage(completed + j);
          x.set(img, j * per);
          x.set(flipHorizontal(img, S2), (b + j) * per);
        }
        const q = await vae.encode(new Tensor(x, [2 * b, C, S, S2]));
        const mean = q.mean.data as Float32Array;
        const logvar = q.logvar.data as Float32Array;
        const rec = new Float32Array(4 * L * b);
        for (let j = 0; j < b; j++) {
          rec.set(mean.subarray(j * L, (j + 1) * L), 4 * L * j);
          rec.set(logvar.subarray(j * L, (j + 1) * L), 4 * L * j + L);
          rec.set(mean.subarray((b + j) * L, (b + j + 1) * L), 4 * L * j + 2 * L);
          rec.set(logvar.subarray((b + j) * L, (b + j + 1) * L), 4 * L * j + 3 * L);
        }
        writeAll(fd, new Uint8Array(rec.buffer), h.dataOffset + completed * h.recordBytes);
        fsyncSync(fd);
        completed += b;
        counter.setBigUint64(0, BigInt(completed), true);
        writeAll(fd, new Uint8Array(counter.buffer), 16);
        fsyncSync(fd);
        opts.onProgress?.(completed, N);
      }
    } finally {
      closeSync(fd);
    }
    if (completed < N) return { out: partial, count: N, resumedFrom, complete: false, header: h };
    renameSync(partial, opts.out);
    fsyncDir(dirname(opts.out));
    return { out: opts.out, count: N, resumedFrom, complete: true, header: h };
  } finally {
    if (ownVae) await vae.dispose();
  }
}
