/** PNG encoding of uint8 images (pngjs) and the sample grid. */
import { PNG } from "pngjs";

/** One (H, W, C) uint8 image, C = 1 (grayscale PNG) or 3 (RGB PNG), as PNG bytes. */
export function encodePng(pixels: Uint8Array, H: number, W: number, C: number): Buffer {
  if (C !== 1 && C !== 3) throw new RangeError(`encodePng: 1 or 3 channels, got ${C}`);
  if (pixels.length !== H * W * C) throw new RangeError(`encodePng: ${pixels.length} bytes for ${H}×${W}×${C}`);
  const png = new PNG({ width: W, height: H });
  for (let i = 0; i < H * W; i++) {
    png.data[4 * i] = pixels[i * C]!;
    png.data[4 * i + 1] = pixels[i * C + (C === 3 ? 1 : 0)]!;
    png.data[4 * i + 2] = pixels[i * C + (C === 3 ? 2 : 0)]!;
    png.data[4 * i + 3] = 255;
  }
  return PNG.sync.write(png, { colorType: C === 1 ? 0 : 2, inputColorType: 6, inputHasAlpha: true });
}

export interface GridLayout {
  rows: number;
  cols: number;
  /** Image index at (row, col), or −1 for an empty cell. */
  cell: (row: number, col: number) => number;
}

/** Pixels between cells and around the border (torchvision make_grid's padding = 2, black). */
export const GRID_PADDING = 2;

/**
 * The grid's layout: with `classes` (K given classes, labels cycling), row r
 * holds the images of the r-th given class in index order (image i sits at
 * row i mod K, column ⌊i / K⌋); otherwise images fill rows of ⌈√N⌉ columns.
 */
export function gridLayout(n: number, classes?: readonly number[]): GridLayout {
  if (classes && classes.length > 0) {
    const K = classes.length;
    const rows = Math.min(K, n);
    const cols = Math.ceil(n / K);
    return { rows, cols, cell: (r, c) => (c * K + r < n ? c * K + r : -1) };
  }
  const cols = Math.max(1, Math.ceil(Math.sqrt(n)));
  const rows = Math.ceil(n / cols);
  return { rows, cols, cell: (r, c) => (r * cols + c < n ? r * cols + c : -1) };
}

/** Tile (N, H, W, C) images into one (rows·(H+p)+p, cols·(W+p)+p, C) image. */
export function gridImage(images: Uint8Array, shape: readonly number[], layout: GridLayout, pad = GRID_PADDING): { pixels: Uint8Array; height: number; width: number } {
  const [, H, W, C] = shape as [number, number, number, number];
  const height = layout.rows * (H + pad) + pad;
  const width = layout.cols * (W + pad) + pad;
  const pixels = new Uint8Array(height * width * C);
  for (let r = 0; r < layout.rows; r++) {
    for (let c = 0; c < layout.cols; c++) {
      const i = layout.cell(r, c);
      if (i < 0) continue;
      const y0 = pad + r * (H + pad);
      const x0 = pad + c * (W + pad);
      for (let y = 0; y < H; y++) {
        const src = ((i * H + y) * W) * C;
        pixels.set(images.subarray(src, src + W * C), ((y0 + y) * width + x0) * C);
      }
    }
  }
  return { pixels, height, width };
}
