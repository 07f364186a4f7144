import { DitError } from "../errors.js";
/** The error `sample()` throws for bad input, before any model evaluation. */
export class SampleError extends DitError {
  constructor(message: string) {
    super(message);
    this.name = "SampleError";
  }
}
