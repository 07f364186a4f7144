/** The error `sample()` throws for bad input, before any model evaluation. */
export class SampleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SampleError";
  }
}
