/**
 * Debian's Chromium, launched headless by us (never a downloaded browser) and driven over the
 * DevTools protocol. Two WebGPU adapter routes: SwiftShader (Chromium's default when headless)
 * and lavapipe through ANGLE (Vulkan), which needs the compatibility feature level.
 */

import { CdpConnection, CdpPage } from "./cdp.ts";

export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Whether Debian's Chromium is installed here. */
export function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM_PATH).isFile;
  } catch {
    return false;
  }
}

export interface AdapterRoute {
  name: "swiftshader" | "lavapipe";
  /** Chromium flags beyond the common ones. */
  flags: string[];
  /** Page query parameters: the adapter request and the kernel family. */
  query: Record<string, string>;
}

/**
 * The kernel family is forced on both: through ANGLE the adapter info is empty, so the page is
 * told to use the CPU-shaped kernels; SwiftShader (`architecture: "swiftshader"`, recognised as
 * a CPU adapter) gets the GPU-shaped ones, whose much smaller shaders it compiles in seconds
 * rather than a minute, so both families run in the browser and CI stays short.
 */
export const ADAPTER_ROUTES: readonly AdapterRoute[] = [
  { name: "swiftshader", flags: [], query: { cpuKernels: "0" } },
  {
    name: "lavapipe",
    flags: ["--use-angle=vulkan", "--use-webgpu-adapter=opengles"],
    query: { cpuKernels: "1", featureLevel: "compatibility" },
  },
];

/**
 * Flags that keep Chromium headless, off the (closed) network and with WebGPU on. Without the
 * network ones it retries component updates, sync and the like for its whole life.
 */
const COMMON_FLAGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--disable-extensions",
  "--no-first-run",
  "--no-default-browser-check",
  // Shader compiles on a busy 2-core machine can outlast the GPU watchdog.
  "--disable-gpu-watchdog",
  "--window-size=1280,1000",
  "--remote-debugging-port=0",
];

export class Chromium {
  private constructor(
    private readonly process: Deno.ChildProcess,
    readonly connection: CdpConnection,
    private readonly profile: string,
    private readonly stderr: string[],
  ) {}

  /**
   * Starts Chromium with the route's flags and connects to its DevTools port (`webgpu: false`
   * leaves out --enable-unsafe-webgpu, as a user's plain Chromium on Linux would).
   */
  static async launch(
    route: AdapterRoute,
    extraFlags: string[] = [],
    { webgpu = true } = {},
  ): Promise<Chromium> {
    const profile = await Deno.makeTempDir({ prefix: "ditfastattn-chromium-" });
    const webgpuFlags = webgpu ? ["--enable-unsafe-webgpu"] : [];
    const process = new Deno.Command(CHROMIUM_PATH, {
      args: [
        ...COMMON_FLAGS,
        ...webgpuFlags,
        `--user-data-dir=${profile}`,
        ...route.flags,
        ...extraFlags,
      ],
      env: { XDG_RUNTIME_DIR: profile },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr: string[] = [];
    const endpoint = await readDevToolsUrl(process, stderr);
    try {
      const connection = await CdpConnection.connect(endpoint);
      return new Chromium(process, connection, profile, stderr);
    } catch (e) {
      process.kill("SIGKILL");
      await process.status;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  open(url: string): Promise<CdpPage> {
    return CdpPage.open(this.connection, url);
  }

  /** Chromium's stderr so far (for failure messages). */
  log(): string {
    return this.stderr.join("").slice(-4000);
  }

  async close(): Promise<void> {
    try {
      await this.connection.send("Browser.close");
    } catch {
      // Already gone; the kill below makes sure.
    }
    this.connection.close();
    const exited = await Promise.race([
      this.process.status.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 5000)),
    ]);
    if (!exited) {
      this.process.kill("SIGKILL");
      await this.process.status;
    }
    await Deno.remove(this.profile, { recursive: true }).catch(() => {});
  }
}

/** Reads stderr until "DevTools listening on ws://…" (then keeps draining it in the background). */
async function readDevToolsUrl(process: Deno.ChildProcess, stderr: string[]): Promise<string> {
  const reader = process.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const timer = setTimeout(() => process.kill("SIGKILL"), 30_000);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        throw new Error(`Chromium exited before opening its DevTools port:\n${seen.slice(-2000)}`);
      }
      seen += value;
      stderr.push(value);
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(seen);
      if (match) {
        (async () => {
          for (;;) {
            const next = await reader.read().catch(() => ({ done: true, value: "" }));
            if (next.done) return;
            stderr.push(next.value);
            if (stderr.length > 2000) stderr.splice(0, stderr.length - 2000);
          }
        })();
        return match[1];
      }
    }
  } finally {
    clearTimeout(timer);
  }
}
