/**
 * Atomic file writes: the bytes go to a temporary file beside `path`, are
 * fsynced, then renamed over `path` (and the folder fsynced), so readers and
 * a crash see the old file or the whole new one, never a half-written one.
 * On any error the temporary file is removed and `path` is untouched.
 * Missing parent folders are created.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * A system error about the temporary file (or about no file: a failed `write`) restated for `path`,
 * the file the caller asked for: same code, errno and syscall, `path` in place of the temporary
 * name, the original as the cause. Other errors are returned as they are.
 */
function forDestination(e: unknown, tmp: string, path: string): unknown {
  const err = e as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof err.code !== "string" || !/^E[A-Z0-9]+$/.test(err.code)) return e;
  if (err.path !== undefined && err.path !== tmp) return e;
  const what = /^E[A-Z0-9]+: ([^,]+)/.exec(err.message)?.[1] ?? err.message;
  const out = new Error(`${err.code}: ${what}, ${err.syscall ?? "write"} '${path}'`, { cause: e }) as NodeJS.ErrnoException;
  out.code = err.code;
  if (err.errno !== undefined) out.errno = err.errno;
  out.syscall = err.syscall ?? "write";
  out.path = path;
  return out;
}

/**
 * Write `path` atomically: `fill(fd)` writes the temporary file. A failure to create, write,
 * sync or rename the temporary file is thrown as a system error naming `path` (its code kept:
 * EACCES, ENOSPC, …), never the temporary name.
 */
export function writeFileAtomicWith(path: string, fill: (fd: number) => void): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, "w");
  } catch (e) {
    throw forDestination(e, tmp, path);
  }
  let open = true;
  try {
    fill(fd);
    fsyncSync(fd); // the bytes are on disk before the rename makes them visible
    closeSync(fd);
    open = false;
    renameSync(tmp, path);
  } catch (e) {
    if (open) closeSync(fd);
    rmSync(tmp, { force: true });
    throw forDestination(e, tmp, path);
  }
  try {
    const d = openSync(dir, "r");
    try {
      fsyncSync(d); // the rename itself survives a crash
    } finally {
      closeSync(d);
    }
  } catch {
    /* some file systems cannot fsync a folder */
  }
}

/** Write `data` (bytes, a string as UTF-8, or byte chunks in order) to `path` atomically. */
export function writeFileAtomic(path: string, data: Uint8Array | string | Uint8Array[]): void {
  const parts = typeof data === "string" ? [Buffer.from(data)] : Array.isArray(data) ? data : [data];
  writeFileAtomicWith(path, (fd) => {
    for (const p of parts) {
      let done = 0;
      while (done < p.length) done += writeSync(fd, p, done, p.length - done);
    }
  });
}

/**
 * What went wrong in a failed file operation, for a one-line error: a system
 * error as its description and code ("no space left on device (ENOSPC)"),
 * anything else as its message.
 */
export function ioErrorReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException | undefined;
  if (err && typeof err.code === "string" && /^E[A-Z0-9]+$/.test(err.code)) {
    const m = /^E[A-Z0-9]+: ([^,]+)/.exec(err.message ?? "");
    return `${m ? m[1]! : err.message} (${err.code})`;
  }
  return e instanceof Error ? e.message.split("\n")[0]! : String(e);
}
