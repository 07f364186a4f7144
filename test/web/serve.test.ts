/**
 * web/serve.ts, the page's static server: cross-origin isolation headers on
 * every response, MIME types (.wasm must be application/wasm for streaming
 * compilation), folders → index.html, nothing outside the root (.., %2e%2e,
 * symlinks), HEAD/405, and clear errors for a missing folder or a busy port.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { mimeType, serveStatic, ServeError, type StaticServer } from "../../web/serve.js";

/** A raw GET/HEAD (the path sent as is, unlike fetch, which normalizes '..'). */
function raw(url: string, path: string, method = "GET"): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method }, (res) => {
      let body = "";
      res.setEncoding("latin1");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", fail);
    req.end();
  });
}

describe("web/serve.ts", () => {
  let root: string;
  let outside: string;
  let s: StaticServer;

  before(async () => {
    const top = mkdtempSync(join(tmpdir(), "dit-serve-test-"));
    root = join(top, "site");
    outside = join(top, "secret.txt");
    mkdirSync(join(root, "assets"), { recursive: true });
    writeFileSync(join(root, "index.html"), "<!doctype html><title>page</title>");
    writeFileSync(join(root, "assets", "ort.wasm"), Buffer.from([0, 97, 115, 109]));
    writeFileSync(join(root, "assets", "dit.onnx"), Buffer.alloc(3000, 7));
    writeFileSync(join(root, "assets", "app.mjs"), "export {}");
    writeFileSync(join(root, "assets", "with space.json"), "{}");
    writeFileSync(outside, "do not serve");
    symlinkSync(outside, join(root, "link.txt"));
    s = await serveStatic(root);
  });
  after(async () => {
    await s?.close();
    rmSync(join(root, ".."), { recursive: true, force: true });
  });

  it("serves the folder's index.html at / with COOP same-origin, COEP require-corp and CORP", async () => {
    const r = await fetch(s.url);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("cross-origin-opener-policy"), "same-origin");
    assert.equal(r.headers.get("cross-origin-embedder-policy"), "require-corp");
    assert.equal(r.headers.get("cross-origin-resource-policy"), "same-origin");
    assert.equal(r.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(await r.text(), "<!doctype html><title>page</title>");
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it("sends .wasm as application/wasm, .mjs as JavaScript, .onnx as octet-stream, with their lengths", async () => {
    for (const [path, type, length] of [
      ["assets/ort.wasm", "application/wasm", 4],
      ["assets/app.mjs", "text/javascript; charset=utf-8", 9],
      ["assets/dit.onnx", "application/octet-stream", 3000],
      ["assets/with%20space.json", "application/json; charset=utf-8", 2],
    ] as const) {
      const r = await fetch(s.url + path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get("content-type"), type, path);
      assert.equal((await r.arrayBuffer()).byteLength, length, path);
      assert.equal(r.headers.get("cross-origin-embedder-policy"), "require-corp", path);
    }
    assert.equal(mimeType("X.WASM"), "application/wasm");
    assert.equal(mimeType("noext"), "application/octet-stream");
  });

  it("answers 404 (still isolated) for absent files and for anything outside the root: .., %2e%2e, %00, a symlink out", async () => {
    for (const path of ["/nope.js", "/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/%2e%2e%2fsecret.txt", "/index.html%00", "/link.txt", "/%E0%A4%A"]) {
      const r = await raw(s.url, path);
      assert.equal(r.status, 404, path);
      assert.ok(!r.body.includes("do not serve"), path);
      assert.equal(r.headers["cross-origin-opener-policy"], "same-origin", path);
    }
  });

  it("answers HEAD without a body and refuses POST with 405", async () => {
    const h = await raw(s.url, "/assets/dit.onnx", "HEAD");
    assert.equal(h.status, 200);
    assert.equal(h.headers["content-length"], "3000");
    assert.equal(h.body, "");
    const p = await raw(s.url, "/", "POST");
    assert.equal(p.status, 405);
    assert.equal(p.headers.allow, "GET, HEAD");
  });

  it("says what is wrong for a missing folder, a busy port and a bad port", async () => {
    await assert.rejects(serveStatic(join(root, "absent")), (e: unknown) => e instanceof ServeError && /expected a folder.*npm run web:build/.test(e.message));
    await assert.rejects(serveStatic(root, { port: s.port }), (e: unknown) => e instanceof ServeError && new RegExp(`port ${s.port} .* in use`).test(e.message));
    await assert.rejects(serveStatic(root, { port: 70000 }), (e: unknown) => e instanceof ServeError && /0\.\.65535/.test(e.message));
  });
});
