/**
 * The root of every error dit-ts throws on purpose. Loaders, the CLI and the
 * trainers throw subclasses of it (SafetensorsError, PickleError, DatasetError, …)
 * whose messages name the file and what was expected; anything else that escapes
 * is a bug. `dit` prints a `DitError` as one line; `DIT_DEBUG=1` adds the stack.
 */
export class DitError extends Error {
  override name = "DitError";
}

/** True when `e` is one of the project's own typed errors. */
export function isDitError(e: unknown): e is DitError {
  return e instanceof DitError;
}
