import { DitError } from "../errors.js";
/** Thrown for malformed input to the evaluation metrics; says what was expected. */
export class EvalInputError extends DitError {
  override name = "EvalInputError";
}
