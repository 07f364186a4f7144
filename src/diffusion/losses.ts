/**
 * Elementwise loss pieces of the official `diffusion/diffusion_utils.py`
 * (normal_kl, approx_standard_normal_cdf, discretized_gaussian_log_likelihood),
 * evaluated in float32 as PyTorch does (Math.fround after every operation).
 */
const f = Math.fround;

/** KL(N(m1, e^lv1) ‖ N(m2, e^lv2)) for one element, float32. */
export function normalKl(mean1: number, logvar1: number, mean2: number, logvar2: number): number {
  const d = f(mean1 - mean2);
  let s = f(f(-1.0 + logvar2) - logvar1);
  s = f(s + f(Math.exp(f(logvar1 - logvar2))));
  s = f(s + f(f(d * d) * f(Math.exp(-logvar2))));
  return f(0.5 * s);
}

const SQRT_2_OVER_PI = f(Math.sqrt(2.0 / Math.PI));
const C3 = f(0.044715);

/**
 * float32 tanh as PyTorch's CPU kernel computes it (SLEEF tanhf, 1 ulp):
 * correctly rounded except that |x| > 8.664339742 gives exactly ±1 (the
 * correctly rounded value there can still be ±(1 − 2⁻²⁴)); the tails of the
 * decoder likelihood depend on it.
 */
export function tanhF32(x: number): number {
  if (Math.abs(x) > 8.664339742) return x > 0 ? 1 : -1;
  return f(Math.tanh(x));
}

/** Fast approximation of the standard normal CDF (tanh form), float32. */
export function approxStandardNormalCdf(x: number): number {
  const x3 = f(f(x * x) * x);
  const inner = f(SQRT_2_OVER_PI * f(x + f(C3 * x3)));
  return f(0.5 * f(1.0 + tanhF32(inner)));
}

const BIN = f(1.0 / 255.0);

/**
 * log-likelihood of x (data scaled to [-1, 1], 8-bit bins) under a Gaussian
 * discretised into bins, with the ±0.999 edge cases; float32.
 */
export function discretizedGaussianLogLikelihood(x: number, mean: number, logScale: number): number {
  const centered = f(x - mean);
  const invStdv = f(Math.exp(-logScale));
  const cdfPlus = approxStandardNormalCdf(f(invStdv * f(centered + BIN)));
  const cdfMin = approxStandardNormalCdf(f(invStdv * f(centered - BIN)));
  if (x < -0.999) return f(Math.log(Math.max(cdfPlus, f(1e-12))));
  if (x > 0.999) return f(Math.log(Math.max(f(1.0 - cdfMin), f(1e-12))));
  return f(Math.log(Math.max(f(cdfPlus - cdfMin), f(1e-12))));
}

/** Mean over all non-batch dimensions of an (N, …) float32 array (accumulated in float64, cast once). */
export function meanFlat(data: Float32Array, n: number): Float32Array {
  const per = data.length / n;
  const out = new Float32Array(n);
  for (let b = 0; b < n; b++) {
    let s = 0;
    for (let i = b * per; i < (b + 1) * per; i++) s += data[i]!;
    out[b] = s / per;
  }
  return out;
}
