/**
 * `deno task web`: builds the page (web/build.ts) and serves web/dist/ with the model files
 * (assets/ under /assets/) on 127.0.0.1, with HTTP Range support for the checkpoints.
 *
 * deno run -A web/serve.ts [--port 8000] [--no-build]
 */

import { buildPage } from "./build.ts";
import { serveStatic } from "./static_server.ts";

const ROOT = new URL("..", import.meta.url).pathname;

function portArgument(args: string[]): number {
  const at = args.indexOf("--port");
  if (at < 0) return 8000;
  const port = Number(args[at + 1]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port: expected a port number, got ${args[at + 1]}`);
    Deno.exit(2);
  }
  return port;
}

if (import.meta.main) {
  const args = Deno.args;
  const dist = args.includes("--no-build") ? `${ROOT}web/dist` : await buildPage();
  const server = await serveStatic({
    port: portArgument(args),
    roots: [{ prefix: "/", dir: dist }, { prefix: "/assets/", dir: `${ROOT}assets` }],
  });
  console.log(`serving ${server.url} (page from ${dist}, models from ${ROOT}assets)`);
  console.log(`  WebGPU in Chromium on Linux: chromium --enable-unsafe-webgpu ${server.url}`);
  console.log(`  software adapter without info: ${server.url}?cpuKernels=1`);
}
