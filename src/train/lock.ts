/**
 * One trainer per run folder: `DIR/train.lock` holds the owner's process id.
 * A lock whose process is gone (killed with SIGKILL, a crashed machine) is
 * taken over, so a resume is never blocked by a dead run.
 */
import { DitError } from "../errors.js";
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

export class RunLockedError extends DitError {
  override name = "RunLockedError";
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}

/** Take `DIR/train.lock`; returns its release function. Throws RunLockedError while a live process holds it. */
export function acquireRunLock(dir: string): () => void {
  const path = join(dir, "train.lock");
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx"); // atomic create: fails if the file exists
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (Number(readFileSync(path, "utf8").trim()) === process.pid) rmSync(path, { force: true });
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let owner: number;
      try {
        owner = Number(readFileSync(path, "utf8").trim());
      } catch {
        continue; // removed in between: try again
      }
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new RunLockedError(`${dir} is in use by another dit train (process ${owner}; lock file ${path}). Wait for it to finish or stop it first.`);
      }
      rmSync(path, { force: true }); // a dead (or unreadable) owner's lock: take it over
    }
  }
  throw new RunLockedError(`${dir}: could not take the lock ${path}`);
}
