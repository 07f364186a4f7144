import { DitError } from "../errors.js";
/** The typed error of the data layer: bad, missing, truncated or corrupt dataset and latent files. */
export class DatasetError extends DitError {
  /** The file or folder the problem is in. */
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DatasetError";
    this.path = path;
  }
}

/** The message of an unknown thrown value. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
