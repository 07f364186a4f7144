/**
 * Reading zip archives by file offset (never the whole file into one Buffer, so archives over
 * 2 GiB work): the central directory (zip64 included), each record's data offset, and records
 * read whole — stored or deflated, with their CRC-32 checked. Shared by the `.pt` reader
 * (./torch-checkpoint.ts) and the `.npz` reader (./npz.ts); each passes an error factory so that
 * its refusals keep its own error class.
 *
 * Format: PKWARE APPNOTE.TXT (https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT),
 * sections 4.3.7 (local header), 4.3.12 (central directory), 4.3.14–4.3.16 (zip64 and plain
 * end-of-central-directory records), 4.5.3 (zip64 extra field).
 *
 * Hostile archives: record names that escape the archive ('..', absolute, backslashes, control
 * characters) and duplicate names are refused; every size and offset is checked against the
 * file's real size before anything is allocated on it; a deflated record may not declare more
 * than deflate's 1032:1 best ratio, and inflating stops at its declared size.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { crc32, inflateRawSync } from "node:zlib";
import type { ByteSource } from "./pickle.js";

/** Builds the error a reader throws for `path` (e.g. `(p, m) => new NpzError(p, m)`). */
export type ZipErrorFactory = (path: string, message: string) => Error;

/** Bytes addressed by offset: what the zip functions read from (FileBytes, or test bytes in memory). */
export interface ZipSource {
  readonly path: string;
  readonly size: number;
  /** Exactly `n` bytes at `offset`; throws `error(...)` when they are not all there. `what` names them. */
  read(offset: number, n: number, what: string): Uint8Array;
  /** The caller's error for this file. */
  error(message: string): Error;
}

/** A file read by offset, in chunks of at most 1 GiB. Close it when done. */
export class FileBytes implements ZipSource {
  readonly fd: number;
  readonly size: number;
  constructor(
    readonly path: string,
    private readonly makeError: ZipErrorFactory,
  ) {
    try {
      this.fd = openSync(path, "r");
    } catch (e) {
      throw makeError(path, `cannot open: ${(e as Error).message}`);
    }
    this.size = fstatSync(this.fd).size;
  }

  error(message: string): Error {
    return this.makeError(this.path, message);
  }

  /** Exactly `n` bytes at `offset`, read in chunks; `what` names them in the error on a short read. */
  read(offset: number, n: number, what: string): Uint8Array {
    if (offset < 0 || offset + n > this.size) {
      throw this.error(`${what} lies beyond the end of the file (needs bytes ${offset}–${offset + n}, file is ${this.size} bytes; truncated?)`);
    }
    const out = new Uint8Array(n);
    const CHUNK = 1 << 30;
    let done = 0;
    while (done < n) {
      const r = readSync(this.fd, out, done, Math.min(CHUNK, n - done), offset + done);
      if (r === 0) throw this.error(`unexpected end of file reading ${what}`);
      done += r;
    }
    return out;
  }

  /** A windowed ByteSource over [start, end) for the unpickler. */
  source(start = 0, end = this.size): ByteSource {
    const WINDOW = 1 << 20;
    let winStart = 0;
    let win: Uint8Array = new Uint8Array(0);
    return {
      length: end - start,
      bytes: (offset, n) => {
        const a = start + offset;
        const len = Math.max(0, Math.min(n, end - a));
        if (a >= winStart && a + len <= winStart + win.length) return win.subarray(a - winStart, a - winStart + len);
        winStart = a;
        win = this.read(a, Math.min(Math.max(len, WINDOW), end - a), "pickle data");
        return win.subarray(0, len);
      },
      at: (offset) => {
        const a = start + offset;
        if (a >= end) return -1;
        if (a < winStart || a >= winStart + win.length) {
          winStart = a;
          win = this.read(a, Math.min(WINDOW, end - a), "pickle data");
        }
        return win[a - winStart]!;
      },
    };
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** One record of the central directory. */
export interface ZipEntry {
  name: string;
  /** CRC-32 of the (uncompressed) data, from the central directory. */
  crc: number;
  /** 0 stored, 8 deflated (others are refused when read). */
  method: number;
  /** General-purpose bit flags (bit 0: encrypted). */
  flags: number;
  compressedSize: number;
  /** Uncompressed size. */
  size: number;
  /** Absolute offset of the record's local header. */
  localOffset: number;
  /** Absolute offset of the record's central directory entry. */
  centralOffset: number;
}

/** Where the central directory is, from the (zip64) end-of-central-directory record. */
export interface ZipEnd {
  /** Absolute offset of the plain end-of-central-directory record. */
  eocdOffset: number;
  /** Records the directory declares. */
  count: number;
  cdOffset: number;
  cdSize: number;
}

function u64(f: ZipSource, dv: DataView, off: number, what: string): number {
  if (off + 8 > dv.byteLength) throw f.error(`${what} is cut short (corrupt zip)`);
  const v = dv.getBigUint64(off, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw f.error(`${what} ${v} is too large (corrupt zip)`);
  return Number(v);
}

/**
 * A record name that stays inside the archive: relative, '/'-separated, no '.' / '..' / empty
 * components, no backslash or control characters (torch and numpy never write such names; an
 * archive that has them is hostile or corrupt).
 */
export function safeRecordName(name: string): boolean {
  if (name.length === 0 || name.startsWith("/") || /^[a-zA-Z]:/.test(name)) return false;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) < 0x20 || name[i] === "\\") return false;
  return name.split("/").every((c, i, all) => (c !== "" || i === all.length - 1) && c !== "." && c !== "..");
}

/** Find the end-of-central-directory record (and the zip64 one it points to, when its fields are 0xffff…). */
export function readZipEnd(f: ZipSource): ZipEnd {
  const tailLen = Math.min(f.size, 22 + 65535);
  const tail = f.read(f.size - tailLen, tailLen, "zip end-of-central-directory record");
  const tdv = new DataView(tail.buffer, tail.byteOffset, tail.length);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tdv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw f.error("zip end-of-central-directory record not found (truncated, or not a zip archive)");
  let count = tdv.getUint16(eocd + 10, true);
  let cdSize = tdv.getUint32(eocd + 12, true);
  let cdOffset = tdv.getUint32(eocd + 16, true);
  const eocdAbs = f.size - tailLen + eocd;
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // zip64: a locator right before the EOCD record points at the zip64 EOCD record.
    if (eocdAbs < 20) throw f.error("zip64 end-of-central-directory locator missing (truncated?)");
    const loc = f.read(eocdAbs - 20, 20, "zip64 end-of-central-directory locator");
    const ldv = new DataView(loc.buffer, loc.byteOffset, loc.length);
    if (ldv.getUint32(0, true) !== 0x07064b50) throw f.error("zip64 end-of-central-directory locator missing (corrupt zip)");
    const recOff = u64(f, ldv, 8, "zip64 end-of-central-directory offset");
    const rec = f.read(recOff, 56, "zip64 end-of-central-directory record");
    const rdv = new DataView(rec.buffer, rec.byteOffset, rec.length);
    if (rdv.getUint32(0, true) !== 0x06064b50) throw f.error(`no zip64 end-of-central-directory record at byte ${recOff} (corrupt zip)`);
    count = u64(f, rdv, 32, "zip64 record count");
    cdSize = u64(f, rdv, 40, "zip64 central directory size");
    cdOffset = u64(f, rdv, 48, "zip64 central directory offset");
  }
  return { eocdOffset: eocdAbs, count, cdOffset, cdSize };
}

/**
 * The central directory: record name → entry, in directory order. Refuses names that escape the
 * archive, duplicate names, and stored records whose two sizes differ.
 */
export function readZipDirectory(f: ZipSource): Map<string, ZipEntry> {
  const bad = (msg: string): never => {
    throw f.error(msg);
  };
  const { count, cdOffset, cdSize } = readZipEnd(f);
  const cd = f.read(cdOffset, cdSize, "zip central directory");
  const dv = new DataView(cd.buffer, cd.byteOffset, cd.length);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || dv.getUint32(p, true) !== 0x02014b50) bad(`zip central directory entry ${i} is corrupt`);
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cd.length) bad(`zip central directory entry ${i} runs past the end of the central directory (corrupt zip)`);
    const name = Buffer.from(cd.subarray(p + 46, p + 46 + nameLen)).toString("utf8");
    if (!safeRecordName(name)) bad(`zip record name '${name.slice(0, 80)}' escapes the archive (absolute, '..', or odd characters); refusing the file`);
    if (entries.has(name)) bad(`zip archive has two records named '${name.slice(0, 80)}' (ambiguous; corrupt or hostile zip)`);
    // zip64 extended information: the 0xffffffff fields, in order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = dv.getUint16(e, true);
      const len = dv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        const what = `zip64 field of record '${name.slice(0, 80)}'`;
        if (size === 0xffffffff) {
          size = u64(f, dv, q, what);
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = u64(f, dv, q, what);
          q += 8;
        }
        if (localOffset === 0xffffffff) localOffset = u64(f, dv, q, what);
      }
      e += 4 + len;
    }
    if (method === 0 && size !== compressedSize) bad(`stored zip record '${name.slice(0, 80)}' declares ${size} bytes but holds ${compressedSize} (corrupt zip)`);
    entries.set(name, { name, crc, method, flags, compressedSize, size, localOffset, centralOffset: cdOffset + p });
    p = extraEnd + commentLen;
  }
  return entries;
}

/**
 * Absolute offset of an entry's data (the local header's extra field differs from the central
 * one). Refuses data past the end of the file, encrypted records and methods other than stored
 * (0) and deflate (8).
 */
export function zipEntryDataOffset(f: ZipSource, e: ZipEntry): number {
  const h = f.read(e.localOffset, 30, `zip local header of '${e.name}'`);
  const dv = new DataView(h.buffer, h.byteOffset, h.length);
  if (dv.getUint32(0, true) !== 0x04034b50) throw f.error(`zip local header of '${e.name}' is corrupt`);
  const start = e.localOffset + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
  if (start + e.compressedSize > f.size) {
    throw f.error(`zip entry '${e.name}' ends at byte ${start + e.compressedSize}, past the end of the file (${f.size} bytes; truncated?)`);
  }
  if (e.flags & 1) throw f.error(`zip entry '${e.name}' is encrypted`);
  if (e.method !== 0 && e.method !== 8) throw f.error(`zip entry '${e.name}' uses compression method ${e.method} (expected 0, stored, or 8, deflate)`);
  return start;
}

/** Deflate cannot do better than about 1032:1; a record declaring more is lying. */
export const MAX_DEFLATE_RATIO = 1032;

/**
 * Throw unless `computed` (the CRC-32 of the entry's uncompressed data) equals the directory's.
 * `hint`, when given, is appended in parentheses (e.g. how to load the file anyway).
 */
export function checkZipCrc(f: ZipSource, e: ZipEntry, computed: number, hint?: string): void {
  if (computed >>> 0 !== e.crc >>> 0) {
    const hex = (x: number) => "0x" + (x >>> 0).toString(16).padStart(8, "0");
    throw f.error(`${e.name}: CRC-32 mismatch (stored ${hex(e.crc)}, computed ${hex(computed)}) — the file is corrupt${hint ? ` (${hint})` : ""}`);
  }
}

export interface ReadZipEntryOptions {
  /** Check the data's CRC-32 against the directory (default true). */
  verifyCrc?: boolean;
  /** Appended to a CRC-32 mismatch message (see checkZipCrc). */
  crcHint?: string;
}

/** An entry's whole (uncompressed) data: stored, or deflated with its declared size bounded by MAX_DEFLATE_RATIO. */
export function readZipEntry(f: ZipSource, e: ZipEntry, opts: ReadZipEntryOptions = {}): Uint8Array {
  const start = zipEntryDataOffset(f, e);
  const raw = f.read(start, e.compressedSize, `zip entry '${e.name}'`);
  let out = raw;
  if (e.method !== 0) {
    if (e.size > Math.max(1024, e.compressedSize * MAX_DEFLATE_RATIO)) {
      throw f.error(`zip entry '${e.name}' declares ${e.size} bytes from ${e.compressedSize} compressed (impossible for deflate; corrupt zip)`);
    }
    try {
      // One output chunk for a small entry (zlib's default is a 16 KiB chunk per call, however small the
      // entry: 5000 members of 100 bytes would allocate 80 MB); big entries keep 16 KiB chunks, so what is
      // allocated follows the bytes that really inflate, never the size the directory declares.
      const chunkSize = Math.min(Math.max(64, e.size + 1), 16384);
      out = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size), chunkSize });
    } catch (err) {
      throw f.error(`zip entry '${e.name}' does not inflate to its declared ${e.size} bytes (${(err as Error).message})`);
    }
    if (out.length !== e.size) throw f.error(`zip entry '${e.name}' inflates to ${out.length} bytes, expected ${e.size}`);
  }
  if (opts.verifyCrc ?? true) checkZipCrc(f, e, crc32(out), opts.crcHint);
  return out;
}
