/**
 * Early checks of the paths a `dit` command reads and writes, before any work
 * starts: an input that does not exist or is of the wrong kind, and an output
 * whose folder cannot be created or written, fail at once with a one-line
 * `UsageError` naming the option and the path (not after an hour of training,
 * and with nothing written).
 */
import { accessSync, constants, statSync, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";
import { UsageError } from "./usage-error.js";

/** What an input must be: a file, a folder, or either. */
export type PathKind = "file" | "folder" | "file or folder";

function stat(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw e;
  }
}

/** `flag` names an input that must exist and be of `kind` (nothing to check when `path` is undefined). */
export function checkInput(flag: string, path: string | undefined, kind: PathKind): void {
  if (path === undefined) return;
  if (path === "") throw new UsageError(`${flag}: empty path`);
  const s = stat(path);
  if (!s) throw new UsageError(`${flag}: ${path} does not exist (expected a ${kind})`);
  if (kind === "file" && s.isDirectory()) throw new UsageError(`${flag}: ${path} is a folder, expected a file`);
  if (kind === "folder" && !s.isDirectory()) throw new UsageError(`${flag}: ${path} is not a folder`);
}

/** The nearest existing ancestor of `path` (`path` itself when it exists). */
function existingAncestor(path: string): { path: string; stats: Stats } {
  let p = resolve(path);
  for (;;) {
    const s = stat(p);
    if (s) return { path: p, stats: s };
    const up = dirname(p);
    if (up === p) throw new UsageError(`${path}: no existing folder above it`);
    p = up;
  }
}

/** The folder `dir` (or the nearest existing one above it, which the write would create it in) must be writable. */
function checkWritableFolder(flag: string, target: string, dir: string): void {
  const a = existingAncestor(dir);
  if (!a.stats.isDirectory()) throw new UsageError(`${flag}: cannot write ${target}: ${a.path} is a file, not a folder (ENOTDIR)`);
  try {
    accessSync(a.path, constants.W_OK | constants.X_OK); // access(2) reports read-only file systems even to root
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new UsageError(`${flag}: cannot write ${target}: ${a.path} is not writable (${code})`);
  }
}

/** `flag` names a file to write: not a folder, and its folder writable or creatable. */
export function checkOutputFile(flag: string, path: string | undefined): void {
  if (path === undefined) return;
  if (path === "") throw new UsageError(`${flag}: empty path`);
  const s = stat(path);
  if (s?.isDirectory()) throw new UsageError(`${flag}: ${path} is a folder, expected a file to write`);
  checkWritableFolder(flag, path, dirname(resolve(path)));
}

/** `flag` names a folder to write into: a folder (or nothing yet), writable or creatable. */
export function checkOutputFolder(flag: string, path: string | undefined): void {
  if (path === undefined) return;
  if (path === "") throw new UsageError(`${flag}: empty path`);
  const s = stat(path);
  if (s && !s.isDirectory()) throw new UsageError(`${flag}: ${path} is a file, expected a folder`);
  checkWritableFolder(flag, path, path);
}
