/**
 * Model outputs in [-1, 1] → 8-bit pixels, exactly as the official
 * sample_ddp.py: clamp(127.5·x + 128, 0, 255) in float32, then truncated to
 * uint8, channels last.
 */

/** (N, C, H, W) float32 in [-1, 1] → (N, H, W, C) uint8. */
export function toUint8Hwc(x: Float32Array, shape: readonly number[]): Uint8Array {
  const [N, C, H, W] = shape as [number, number, number, number];
  const out = new Uint8Array(N * H * W * C);
  const f = Math.fround;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < H * W; i++) {
        const v = f(f(127.5 * x[(n * C + c) * H * W + i]!) + 128);
        // important: truncation (torch's .to(uint8)), not rounding; NaN → 0
        out[(n * H * W + i) * C + c] = v >= 255 ? 255 : v > 0 ? Math.trunc(v) : 0;
      }
    }
  }
  return out;
}

/** (N, H, W, C) uint8 with C = 1 or 3 → (N, H, W, 3): grayscale replicated, as the ADM evaluator needs RGB. */
export function toRgb(images: Uint8Array, shape: readonly number[]): Uint8Array {
  const [N, H, W, C] = shape as [number, number, number, number];
  if (C === 3) return images;
  if (C !== 1) throw new RangeError(`toRgb: expected 1 or 3 channels, got ${C}`);
  const out = new Uint8Array(N * H * W * 3);
  for (let i = 0; i < N * H * W; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = images[i]!;
  return out;
}
