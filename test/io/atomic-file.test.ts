/**
 * io/atomic-file.ts when the write fails: the error names the destination, never the temporary
 * file, keeps the system error's code (EACCES, ENOSPC) and leaves neither a temporary file nor
 * a changed destination; writeSafetensors goes through it.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { writeFileAtomic, writeFileAtomicWith } from "../../src/io/atomic-file.js";
import { writeSafetensors } from "../../src/io/safetensors.js";
import { injectEacces } from "../cli/eacces-preload.mjs";

const tmp = mkdtempSync(join(tmpdir(), "dit-atomic-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Asserts a system error with `code` about `path` (message and `.path`), not about a temporary file. */
function namesDestination(e: unknown, code: string, path: string): true {
  const err = e as NodeJS.ErrnoException;
  assert.equal(err.code, code);
  assert.equal(err.path, path);
  assert.ok(err.message.includes(`'${path}'`), err.message);
  assert.ok(!/\.tmp\b/.test(err.message), `the message names the temporary file: ${err.message}`);
  return true;
}

describe("atomic writes that fail", () => {
  it("EACCES creating the temporary file: the error names the destination; nothing is written", () => {
    const dir = join(tmp, "ro");
    mkdirSync(dir);
    const dest = join(dir, "loss.png");
    const restore = injectEacces(dir, ["open"]);
    try {
      assert.throws(() => writeFileAtomic(dest, "x"), (e) => namesDestination(e, "EACCES", dest));
      assert.throws(() => writeSafetensors(join(dir, "w.safetensors"), { w: { data: new Float32Array(2), shape: [2] } }), (e) => namesDestination(e, "EACCES", join(dir, "w.safetensors")));
    } finally {
      restore();
    }
    assert.deepEqual(readdirSync(dir), []);
  });

  it("ENOSPC while writing: the error names the destination with its code; the old file is intact, no temporary file", () => {
    const dir = join(tmp, "full");
    mkdirSync(dir);
    const dest = join(dir, "ckpt.safetensors");
    writeFileSync(dest, "old");
    const enospc = () => {
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { errno: -28, code: "ENOSPC", syscall: "write" });
    };
    assert.throws(() => writeFileAtomicWith(dest, enospc), (e) => namesDestination(e, "ENOSPC", dest) && (e as Error).message === `ENOSPC: no space left on device, write '${dest}'`);
    assert.equal(readFileSync(dest, "utf8"), "old");
    assert.deepEqual(readdirSync(dir), ["ckpt.safetensors"]);
  });

  it("an error that is not a system error passes through unchanged", () => {
    const boom = new RangeError("not a file problem");
    assert.throws(
      () =>
        writeFileAtomicWith(join(tmp, "a.bin"), () => {
          throw boom;
        }),
      (e) => e === boom,
    );
  });
});
