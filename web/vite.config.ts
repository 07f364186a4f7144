/**
 * Vite config of the browser page: root web/, output web/dist (static, relative
 * paths so it works from any folder). `npm run web:build` (web/build.ts) runs
 * this build, then writes the models beside it (web/dist/models/).
 */
import { fileURLToPath } from "node:url";
import { defaultClientConditions, defineConfig } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root,
  base: "./",
  publicDir: false,
  // the models are written after the build (web/build.ts); never commit or serve stale ones from here
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: false, chunkSizeWarningLimit: 1024 },
  // onnxruntime-web without its Wasm glue inlined (ort.min.mjs): the glue (ort-wasm-simd-threaded.jsep.mjs)
  // and the .wasm are copied to dist/ort/ by web/build.ts and found through ort.env.wasm.wasmPaths. The
  // inlined variant starts its Wasm threads from the bundle's own URL, i.e. the page's script, which
  // cannot run in a worker.
  resolve: {
    conditions: ["onnxruntime-web-use-extern-wasm", ...defaultClientConditions],
    // the page needs only ONNX's data type numbers of onnx-proto (see the shim)
    alias: { "onnx-proto": fileURLToPath(new URL("src/onnx-proto-shim.ts", import.meta.url)) },
  },
  optimizeDeps: { exclude: ["onnxruntime-web"] },
  server: { headers: { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" } },
  preview: { headers: { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" } },
});
