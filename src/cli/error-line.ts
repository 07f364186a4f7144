/**
 * How `dit` reports a failure: one line on stderr, `dit: …`. The project's own
 * errors (`DitError`) print their message; a Node system error (ENOENT, EACCES,
 * ENOTDIR, ENOSPC … from the file system) says what it could not do to which
 * path; anything else is a bug, said as such. `DIT_DEBUG=1` adds the stack.
 */
import { isDitError } from "../errors.js";

interface SystemError extends Error {
  code: string;
  syscall?: string;
  path?: string;
  dest?: string;
}

function isSystemError(e: unknown): e is SystemError {
  return e instanceof Error && typeof (e as SystemError).code === "string" && /^E[A-Z]+$/.test((e as SystemError).code) && typeof (e as SystemError).syscall === "string";
}

/** One line: no newline inside, so a message never looks like two errors. */
const oneLine = (s: string) => s.replace(/\s*\n\s*/g, " ").trim();

/** The one line (without `dit: ` and the newline) that reports `e`. */
export function errorMessage(e: unknown): string {
  if (isDitError(e)) return oneLine(e.message);
  if (isSystemError(e)) {
    // Node's message: "ENOENT: no such file or directory, open '/x/y'"
    const what = e.message.replace(/^E[A-Z]+: /, "").replace(/, \w+ '[^]*$/, "");
    const where = e.path ? ` ${e.path}${e.dest ? ` → ${e.dest}` : ""}` : "";
    return oneLine(`cannot ${e.syscall}${where}: ${what} (${e.code})`);
  }
  const msg = e instanceof Error ? `${e.name && e.name !== "Error" ? `${e.name}: ` : ""}${e.message}` : String(e);
  return oneLine(`internal error: ${msg} (run with DIT_DEBUG=1 for the stack)`);
}

/** The stack of `e` and of its causes, for `DIT_DEBUG=1`. */
export function errorStack(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e, depth = 0; c !== undefined && depth < 8; c = c instanceof Error ? c.cause : undefined, depth++) {
    parts.push(c instanceof Error ? (c.stack ?? `${c.name}: ${c.message}`) : String(c));
  }
  return parts.join("\ncaused by: ");
}
