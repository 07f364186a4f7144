/**
 * A tiny static file server for the built page (web/dist): cross-origin
 * isolated (COOP same-origin, COEP require-corp, CORP same-origin on every
 * response), so onnxruntime-web's Wasm backend can use SharedArrayBuffer
 * threads; correct MIME types for .wasm (streaming compilation needs
 * application/wasm), .mjs and .onnx. node:http only, no dependency.
 *
 *   node --import tsx web/serve.ts [--dir web/dist] [--port 5180] [--host 127.0.0.1]
 *
 * `npm run web` builds the site when it is missing and runs this; the browser
 * tests and `npm run bench:web` call `serveStatic()` on a free port.
 */
import { createReadStream, realpathSync, statSync, type Stats } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Content types by file extension (lower case, with the dot). Anything else is application/octet-stream. */
export const MIME_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".htm": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".cjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
  ".ort": "application/octet-stream",
  ".bin": "application/octet-stream",
  ".data": "application/octet-stream",
  ".safetensors": "application/octet-stream",
};

/** The headers that make the page cross-origin isolated (`crossOriginIsolated === true`), sent on every response. */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
};

/** The content type served for a file name. */
export function mimeType(file: string): string {
  return MIME_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
}

export interface ServeOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind (default 127.0.0.1: the page is for this machine). */
  host?: string;
  /** Log each request to stderr. */
  log?: boolean;
}

export interface StaticServer {
  /** Base address with a trailing slash, e.g. http://127.0.0.1:41234/ */
  url: string;
  port: number;
  server: Server;
  /** Stop listening and drop open connections. */
  close(): Promise<void>;
}

/** Thrown for a root folder that is absent or not a folder, or a port that cannot be bound. */
export class ServeError extends Error {
  override name = "ServeError";
}

/** The file a URL path names under root, or undefined when it escapes root or does not exist. Folders map to their index.html. */
export function resolveRequestPath(root: string, urlPath: string): { file: string; stat: Stats } | undefined {
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath.split("?")[0]!.split("#")[0]!);
  } catch {
    return undefined; // malformed %-escape
  }
  if (rel.includes("\0")) return undefined;
  let file = resolve(root, "." + (rel.startsWith("/") ? rel : "/" + rel));
  if (file !== root && !file.startsWith(root + sep)) return undefined;
  let stat: Stats;
  try {
    stat = statSync(file);
    if (stat.isDirectory()) {
      file = join(file, "index.html");
      stat = statSync(file);
    }
    // a symlink inside root pointing outside it is refused too
    const real = realpathSync(file);
    if (real !== root && !real.startsWith(root + sep)) return undefined;
  } catch {
    return undefined;
  }
  return stat.isFile() ? { file, stat } : undefined;
}

function handle(root: string, req: IncomingMessage, res: ServerResponse, log: boolean): void {
  const done = (status: number): void => {
    if (log) process.stderr.write(`${status} ${req.method} ${req.url}\n`);
  };
  for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" }).end("method not allowed\n");
    return done(405);
  }
  const hit = resolveRequestPath(root, req.url ?? "/");
  if (!hit) {
    res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end(`not found: ${req.url}\n`);
    return done(404);
  }
  res.writeHead(200, {
    "Content-Type": mimeType(hit.file),
    "Content-Length": String(hit.stat.size),
    // the models are cached by the page itself (Cache API); always revalidate so a rebuild shows at once
    "Cache-Control": "no-cache",
    "Last-Modified": hit.stat.mtime.toUTCString(),
  });
  if (req.method === "HEAD") {
    res.end();
    return done(200);
  }
  const stream = createReadStream(hit.file);
  stream.on("error", () => res.destroy());
  stream.pipe(res);
  done(200);
}

/** Serve `dir` over HTTP with the cross-origin isolation headers. Resolves once listening. */
export async function serveStatic(dir: string, opts: ServeOptions = {}): Promise<StaticServer> {
  let root: string;
  try {
    root = realpathSync(resolve(dir));
    if (!statSync(root).isDirectory()) throw new Error("not a folder");
  } catch {
    throw new ServeError(`cannot serve '${dir}': expected a folder (the built site; run \`npm run web:build\` first)`);
  }
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ServeError(`port must be an integer in 0..65535, got ${port}`);
  const server = createServer((req, res) => handle(root, req, res, opts.log ?? false));
  await new Promise<void>((ok, fail) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      fail(new ServeError(e.code === "EADDRINUSE" ? `port ${port} on ${host} is in use: pass another with --port (0 picks a free one)` : `cannot listen on ${host}:${port}: ${e.message}`)),
    );
    server.listen(port, host, () => ok());
  });
  const actual = (server.address() as AddressInfo).port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${actual}/`,
    port: actual,
    server,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** The default site folder: web/dist beside this file. */
export const DEFAULT_SITE_DIR: string = join(dirname(fileURLToPath(import.meta.url)), "dist");

const HELP = `usage: node --import tsx web/serve.ts [--dir DIR] [--port N] [--host H] [--quiet]

Serve the built page (default ${DEFAULT_SITE_DIR}) with COOP/COEP headers, so it
is cross-origin isolated and onnxruntime-web's Wasm backend runs multi-threaded.

  --dir DIR    folder to serve (default: web/dist; build it with npm run web:build)
  --port N     port (default 5180; 0 picks a free one)
  --host H     interface to bind (default 127.0.0.1)
  --quiet      do not log requests
  --help       this text
`;

async function main(argv: string[]): Promise<void> {
  let dir = DEFAULT_SITE_DIR;
  let port = 5180;
  let host = "127.0.0.1";
  let log = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new ServeError(`${a} needs a value`);
      return v;
    };
    if (a === "--help" || a === "-h") return void process.stdout.write(HELP);
    else if (a === "--dir") dir = value();
    else if (a === "--port") {
      const v = value();
      port = Number(v);
      if (!/^\d+$/.test(v)) throw new ServeError(`--port must be an integer in 0..65535, got '${v}'`);
    } else if (a === "--host") host = value();
    else if (a === "--quiet") log = false;
    else throw new ServeError(`unknown option '${a}' (see --help)`);
  }
  const s = await serveStatic(dir, { port, host, log });
  process.stdout.write(`serving ${dir} at ${s.url}  (cross-origin isolated; Ctrl-C stops)\n`);
  const stop = () => void s.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`serve: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
