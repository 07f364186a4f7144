/**
 * Charts as files: a Vega-Lite spec compiled with vega-lite, rendered to SVG
 * by vega (headless, no browser) and rasterised to PNG by resvg. Used by the
 * training loss plot and the study reports.
 */
import { existsSync } from "node:fs";

/** A Vega-Lite specification (JSON). */
export type VegaLiteSpec = Record<string, unknown>;

/** Common font files (Debian's fonts-dejavu-core first). */
const FONT_CANDIDATES: [string, string][] = [
  ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVu Sans"],
  ["/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", "Liberation Sans"],
  ["/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf", "Noto Sans"],
  ["/Library/Fonts/Arial.ttf", "Arial"],
  ["/System/Library/Fonts/Supplemental/Arial.ttf", "Arial"],
  ["C:\\Windows\\Fonts\\arial.ttf", "Arial"],
];

export interface RenderedPlot {
  svg: string;
  png: Uint8Array;
  width: number;
  height: number;
  /** E.g. no font found (the text is then missing from the PNG). */
  warnings: string[];
}

export interface RenderOptions {
  /** Pixel density of the PNG (default 2). */
  scale?: number;
  /** A TrueType/OpenType font for the PNG's text; default: the first of a few common system fonts found. */
  fontFile?: string;
}

/** Compile a Vega-Lite spec with vega-lite, render it to SVG with vega (headless) and to PNG with resvg. */
export async function renderVegaLite(spec: VegaLiteSpec, opts: RenderOptions = {}): Promise<RenderedPlot> {
  const scale = opts.scale ?? 2;
  if (!(scale > 0 && scale <= 8)) throw new RangeError(`scale must be in (0, 8], got ${scale}`);
  const [vega, vl, { Resvg }] = await Promise.all([import("vega"), import("vega-lite"), import("@resvg/resvg-js")]);
  const view = new vega.View(vega.parse(vl.compile(spec as never).spec), { renderer: "none" });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  const warnings: string[] = [];
  let font: { fontFiles: string[]; family: string } | undefined;
  if (opts.fontFile) {
    if (!existsSync(opts.fontFile)) throw new Error(`font file not found: ${opts.fontFile}`);
    font = { fontFiles: [opts.fontFile], family: "" };
  } else {
    const hit = FONT_CANDIDATES.find(([p]) => existsSync(p));
    if (hit) font = { fontFiles: [hit[0]], family: hit[1] };
    else warnings.push(`no known font file found (${FONT_CANDIDATES[0]![0]}, …): text may be missing from the PNG; install fonts-dejavu-core`);
  }
  const img = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    background: "white",
    font: {
      loadSystemFonts: true,
      ...(font ? { fontFiles: font.fontFiles } : {}),
      ...(font?.family ? { defaultFontFamily: font.family, sansSerifFamily: font.family } : {}),
    },
  }).render();
  return { svg, png: new Uint8Array(img.asPng()), width: img.width, height: img.height, warnings };
}
