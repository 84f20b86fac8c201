/**
 * A small static file server for the page and the model files, on 127.0.0.1. It answers HEAD and
 * single-range GETs (`Range: bytes=a-b`), which `urlFolder` uses to read one tensor at a time;
 * with `ranges: false` it ignores Range headers, as some servers do, so the streaming fallback
 * can be tested too.
 */

export interface StaticRoot {
  /** URL path prefix, starting and ending with "/". */
  prefix: string;
  /** Folder served under it. */
  dir: string;
}

export interface StaticServerOptions {
  roots: readonly StaticRoot[];
  /** 0 picks a free port. */
  port?: number;
  /** Honour Range headers (default true). */
  ranges?: boolean;
  /** Called once per request (tests count range reads). */
  onRequest?: (request: Request) => void;
}

export interface StaticServer {
  /** "http://127.0.0.1:PORT/" */
  url: string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  map: "application/json",
  png: "image/png",
  md: "text/markdown; charset=utf-8",
};

function contentType(path: string): string {
  return CONTENT_TYPES[path.slice(path.lastIndexOf(".") + 1)] ?? "application/octet-stream";
}

/** The file a URL path names under one of the roots, or null (no root, or it climbs out). */
function fileFor(roots: readonly StaticRoot[], pathname: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.split("/").some((part) => part === "..") || decoded.includes("\0")) return null;
  const root = [...roots].sort((a, b) => b.prefix.length - a.prefix.length)
    .find((r) => decoded.startsWith(r.prefix));
  if (!root) return null;
  const rest = decoded.slice(root.prefix.length);
  return `${root.dir}/${rest === "" || rest.endsWith("/") ? rest + "index.html" : rest}`;
}

/** [start, end] (inclusive) of a single `bytes=` range, "bad" when unsatisfiable, null if none. */
export function parseRange(header: string | null, size: number): [number, number] | "bad" | null {
  if (header === null) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return "bad";
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return "bad";
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return "bad";
  return [start, end];
}

/** `length` bytes of `file` from `start`, streamed in 1 MiB reads (the file is closed after). */
function fileSlice(file: Deno.FsFile, start: number, length: number): ReadableStream<Uint8Array> {
  let left = length;
  let positioned = false;
  return new ReadableStream({
    async pull(controller) {
      try {
        if (!positioned) {
          await file.seek(start, Deno.SeekMode.Start);
          positioned = true;
        }
        if (left === 0) {
          file.close();
          controller.close();
          return;
        }
        const buffer = new Uint8Array(Math.min(left, 2 ** 20));
        const n = await file.read(buffer);
        if (n === null) throw new Error("file ended early");
        left -= n;
        controller.enqueue(buffer.subarray(0, n));
      } catch (e) {
        file.close();
        controller.error(e);
      }
    },
    cancel() {
      file.close();
    },
  });
}

async function answer(request: Request, options: StaticServerOptions): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { Allow: "GET, HEAD" } });
  }
  const path = fileFor(options.roots, new URL(request.url).pathname);
  let size: number;
  try {
    const stat = path === null ? null : await Deno.stat(path);
    if (!stat?.isFile) return new Response("not found\n", { status: 404 });
    size = stat.size;
  } catch {
    return new Response("not found\n", { status: 404 });
  }
  const headers = new Headers({ "Content-Type": contentType(path!), "Cache-Control": "no-store" });
  const useRanges = options.ranges ?? true;
  if (useRanges) headers.set("Accept-Ranges", "bytes");
  const range = useRanges ? parseRange(request.headers.get("range"), size) : null;
  if (range === "bad") {
    headers.set("Content-Range", `bytes */${size}`);
    return new Response(null, { status: 416, headers });
  }
  const [start, end] = range ?? [0, size - 1];
  const length = Math.max(0, end - start + 1);
  headers.set("Content-Length", String(length));
  if (range) headers.set("Content-Range", `bytes ${start}-${end}/${size}`);
  const status = range ? 206 : 200;
  if (request.method === "HEAD" || length === 0) return new Response(null, { status, headers });
  const file = await Deno.open(path!, { read: true });
  return new Response(fileSlice(file, start, length), { status, headers });
}

/** Serves `roots` on 127.0.0.1 until `close()`. */
export function serveStatic(options: StaticServerOptions): Promise<StaticServer> {
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: options.port ?? 0,
      onListen: ({ port }) => {
        resolve({ url: `http://127.0.0.1:${port}/`, close: () => server.shutdown() });
      },
    }, (request) => {
      options.onRequest?.(request);
      return answer(request, options);
    });
  });
}
