/** Thrown for malformed input to the evaluation metrics; says what was expected. */
export class EvalInputError extends Error {
  override name = "EvalInputError";
}
