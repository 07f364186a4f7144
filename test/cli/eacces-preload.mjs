/**
 * Inject EACCES ("permission denied") into every write under one folder, for
 * the command-line matrix test. CI runs as root, and root writes through any
 * `chmod`, so the refusal has to be injected.
 *
 * - As a preload: `DIT_TEST_EACCES_DIR=/tmp/x node --import ./test/cli/eacces-preload.mjs bin/dit.mjs …`
 *   (`DIT_TEST_EACCES_OPS=open,mkdir` limits the refusal to those calls; by default every write
 *   call, `access(W_OK)` included, is refused).
 * - In-process: `const restore = injectEacces(dir); … restore();`.
 *
 * It patches `node:fs` (sync, callback and promise forms) and then calls
 * `module.syncBuiltinESMExports()`, so ES modules that imported the functions by
 * name (`import { openSync } from "node:fs"`) see the patch too.
 */
import { Buffer } from "node:buffer";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { resolve, sep } from "node:path";
import process from "node:process";
import { fileURLToPath, URL } from "node:url";

const WRITE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_APPEND;

/** True when open(2) flags (a string like "w", "a+", "wx" or a number) would write. */
function writes(flags) {
  if (flags === undefined || flags === null) return false;
  if (typeof flags === "number") return (flags & WRITE_FLAGS) !== 0;
  return /[wa+]/.test(String(flags));
}

function eacces(syscall, path) {
  const e = new Error(`EACCES: permission denied, ${syscall} '${path}'`);
  return Object.assign(e, { errno: -13, code: "EACCES", syscall, path: String(path) });
}

/**
 * Refuse writes under `dir` with EACCES until the returned function is called.
 * `ops` (names like "open", "mkdir", "access") limits which calls are refused.
 */
export function injectEacces(dir, ops) {
  const root = resolve(dir);
  const under = (p) => {
    if (typeof p !== "string" && !(p instanceof URL) && !Buffer.isBuffer(p)) return false; // a file descriptor
    const r = resolve(p instanceof URL ? fileURLToPath(p) : String(p));
    return r === root || r.startsWith(root + sep);
  };
  const on = (op) => !ops || ops.includes(op);
  // [name, op, which arguments are paths, when the call writes]
  const table = [
    ["open", "open", [0], (a) => writes(a[1])],
    ["writeFile", "open", [0], () => true],
    ["appendFile", "open", [0], () => true],
    ["mkdir", "mkdir", [0], (a) => !(a[1]?.recursive && fs.existsSync(a[0]))], // mkdir -p of an existing folder writes nothing
    ["mkdtemp", "mkdir", [0], () => true],
    ["rename", "rename", [0, 1], () => true],
    ["copyFile", "copyfile", [1], () => true],
    ["cp", "copyfile", [1], () => true],
    ["unlink", "unlink", [0], () => true],
    ["rm", "rm", [0], () => true],
    ["rmdir", "rmdir", [0], () => true],
    ["truncate", "open", [0], () => true],
    ["symlink", "symlink", [1], () => true],
    ["link", "link", [1], () => true],
    ["chmod", "chmod", [0], () => true],
    ["utimes", "utime", [0], () => true],
    ["access", "access", [0], (a) => typeof a[1] === "number" && (a[1] & fs.constants.W_OK) !== 0],
  ];
  const saved = [];
  const patch = (obj, key, syscall, argIdx, isWrite, mode) => {
    const orig = obj[key];
    if (typeof orig !== "function") return;
    saved.push([obj, key, orig]);
    obj[key] = function (...args) {
      const hit = argIdx.map((i) => args[i]).find((p) => under(p));
      if (hit !== undefined && isWrite(args)) {
        const err = eacces(syscall, hit);
        if (mode === "sync") throw err;
        if (mode === "promise") return Promise.reject(err);
        const cb = args.findLast((x) => typeof x === "function");
        if (cb) return void process.nextTick(cb, err);
        throw err;
      }
      return orig.apply(this, args);
    };
  };
  for (const [name, op, argIdx, isWrite] of table) {
    if (!on(op === "copyfile" ? "open" : op)) continue;
    patch(fs, `${name}Sync`, op, argIdx, isWrite, "sync");
    patch(fs, name, op, argIdx, isWrite, "callback");
    patch(fs.promises, name, op, argIdx, isWrite, "promise");
  }
  if (on("open")) {
    patch(fs, "createWriteStream", "open", [0], () => true, "sync");
  }
  syncBuiltinESMExports();
  return () => {
    for (const [obj, key, orig] of saved.reverse()) obj[key] = orig;
    syncBuiltinESMExports();
  };
}

if (process.env.DIT_TEST_EACCES_DIR) {
  injectEacces(process.env.DIT_TEST_EACCES_DIR, process.env.DIT_TEST_EACCES_OPS ? process.env.DIT_TEST_EACCES_OPS.split(",") : undefined);
}
