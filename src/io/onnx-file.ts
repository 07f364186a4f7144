/**
 * Saving lowered graphs as `.onnx` files.
 *
 * A protobuf message is limited to 2 GiB, so a graph whose initializers exceed
 * that (a whole DiT-XL/2 is 2.7 GB) is written in ONNX's external-data format:
 * large tensors go to `<file>.data` and the model refers to them by offset.
 * Files are written under temporary names and renamed at the end, so nothing
 * half-written is left behind.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname } from "node:path";
import onnxProto from "onnx-proto";
import { bytesOf, type Graph } from "../runtime/onnx-graph.js";

const { onnx } = onnxProto;

/** Above this many bytes of initializers, external data is used (protobuf's limit is 2 GiB). */
export const EXTERNAL_DATA_THRESHOLD = 1.5 * 2 ** 30;

export interface SaveOptions {
  /** Force (true) or forbid (false) external data; default: only when needed. */
  externalData?: boolean;
  /** Tensors at least this large go to the data file (default 1 KiB). */
  minExternalBytes?: number;
  /** Graph name stored in the model. */
  name?: string;
}

/** Write `graph` to `path`; returns the files written. */
export function saveOnnx(graph: Graph, path: string, opts: SaveOptions = {}): string[] {
  const total = graph.initializers.reduce((s, t) => s + t.data.byteLength, 0);
  const external = opts.externalData ?? total > EXTERNAL_DATA_THRESHOLD;
  const dataPath = `${path}.data`;
  const tmpModel = `${path}.${process.pid}.tmp`;
  const tmpData = `${dataPath}.${process.pid}.tmp`;
  mkdirSync(dirname(path), { recursive: true }); // as users expect of --out paths
  const written: string[] = [];
  let fd: number | undefined;
  try {
    let model;
    if (external) {
      fd = openSync(tmpData, "w");
      let offset = 0;
      model = graph.toModelProto({
        name: opts.name,
        externalThreshold: (opts.minExternalBytes ?? 1024) - 1,
        onExternal: (t) => {
          const bytes = bytesOf(t.data);
          // Align each tensor to 64 bytes so it can be memory-mapped and read in place.
          const pad = (64 - (offset % 64)) % 64;
          if (pad) writeSync(fd!, new Uint8Array(pad), 0, pad, offset);
          offset += pad;
          writeChunked(fd!, bytes, offset);
          const where = { location: basename(dataPath), offset, length: bytes.byteLength };
          offset += bytes.byteLength;
          return where;
        },
      });
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
    } else {
      model = graph.toModelProto({ name: opts.name });
    }
    const encoded = onnx.ModelProto.encode(model).finish();
    const mfd = openSync(tmpModel, "w");
    try {
      writeChunked(mfd, encoded, 0);
      fsyncSync(mfd); // on disk before the rename makes it visible
    } finally {
      closeSync(mfd);
    }
    if (external) {
      renameSync(tmpData, dataPath);
      written.push(dataPath);
    }
    renameSync(tmpModel, path);
    written.unshift(path);
    return written;
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmpModel, { force: true });
    rmSync(tmpData, { force: true });
    throw e;
  }
}

/** writeSync in chunks below Node's 2 GiB single-write limit. */
function writeChunked(fd: number, bytes: Uint8Array, position: number): void {
  const CHUNK = 1 << 30;
  for (let off = 0; off < bytes.byteLength; off += CHUNK) {
    const end = Math.min(off + CHUNK, bytes.byteLength);
    let done = off;
    while (done < end) done += writeSync(fd, bytes, done, end - done, position + done);
  }
}
