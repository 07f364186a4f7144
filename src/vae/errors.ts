import { DitError } from "../errors.js";

/** A VAE path, config or weights that cannot be used; the message names the file. */
export class VaeLoadError extends DitError {
  override name = "VaeLoadError";
}

/** Bad input to `trainVae`: data and config that disagree, counts out of range, a diverged loss. */
export class VaeTrainError extends DitError {
  override name = "VaeTrainError";
}
