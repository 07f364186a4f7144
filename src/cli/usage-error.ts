/** The error `dit` raises for a bad command line (an option's value, a missing or unusable path). */
import { DitError } from "../errors.js";

/** A bad argument: the message names the option and what was expected. */
export class UsageError extends DitError {
  override name = "UsageError";
}
