/**
 * Builds the page into web/dist/: the library bundle (`ditfastattn.js`, the
 * file a user imports from a `<script type="module">`), the page's own bundle (`page.js`, which
 * loads the library bundle at run time rather than carrying a copy), and the static files.
 *
 * deno run -A web/build.ts
 */

const WEB = new URL(".", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;
export const DIST = `${WEB}dist`;

async function bundle(entry: string, output: string, extra: string[] = []): Promise<void> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--platform", "browser", ...extra, "-o", output, entry],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`deno bundle ${entry} failed:\n${new TextDecoder().decode(stderr)}`);
  }
}

/** Bundles library and page into web/dist/; returns the folder. */
export async function buildPage(): Promise<string> {
  await Deno.mkdir(DIST, { recursive: true });
  await bundle("mod.ts", `${DIST}/ditfastattn.js`);
  await bundle("web/page.ts", `${DIST}/page.js`);
  // The page must use the library bundle, not a second copy of the library (two copies would
  // also break `instanceof` between them): only type imports from mod.ts are allowed.
  const page = await Deno.readTextFile(`${DIST}/page.js`);
  if (/class DiTModel\b/.test(page)) {
    throw new Error("web/page.js carries a copy of the library: import only types from mod.ts");
  }
  for (const file of ["index.html", "minimal.html", "style.css"]) {
    await Deno.copyFile(`${WEB}${file}`, `${DIST}/${file}`);
  }
  return DIST;
}

if (import.meta.main) {
  const dist = await buildPage();
  console.log(`built ${dist}/ (ditfastattn.js, page.js, index.html, minimal.html)`);
}
