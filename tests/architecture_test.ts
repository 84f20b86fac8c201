/**
 * The layout's rules, checked on the import graph of every source file: no import circles; the
 * core (`src/`, `shaders/`, `models/`, `calibrate/`) never imports the CLI, the demo tooling,
 * the Deno entry or test fixtures; models never import calibration; kernels know no model;
 * nothing reachable from `mod.ts` uses `Deno.*` or `node:`; `mod.ts` exports at most 40 names.
 */

import { dirname, join, normalize, relative } from "node:path";

const ROOT = normalize(join(dirname(new URL(import.meta.url).pathname), ".."));
const SOURCE_DIRS = ["src", "shaders", "models", "calibrate", "cli", "eval", "deno", "testing"];

async function sourceFiles(): Promise<string[]> {
  const files: string[] = ["mod.ts"];
  if (await Deno.stat(join(ROOT, "deno.ts")).then(() => true, () => false)) files.push("deno.ts");
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(join(ROOT, dir))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts")) files.push(path);
    }
  };
  for (const dir of SOURCE_DIRS) {
    const found = await Deno.stat(join(ROOT, dir)).then(() => true, () => false);
    if (found) await walk(dir);
  }
  return files.sort();
}

/** Relative imports and re-exports of a file, as repository paths. */
function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  const pattern = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*"(\.{1,2}\/[^"]+)"/g;
  for (const match of text.matchAll(pattern)) {
    out.push(relative(ROOT, normalize(join(ROOT, dirname(file), match[1]))));
  }
  return out;
}

const files = await sourceFiles();
const graph = new Map<string, string[]>();
const texts = new Map<string, string>();
for (const file of files) {
  const text = await Deno.readTextFile(join(ROOT, file));
  texts.set(file, text);
  graph.set(file, importsOf(file, text));
}

Deno.test("the import graph has no circles", () => {
  // Tarjan's strongly connected components: any component of two or more files is a circle.
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (v: string) => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) circles.push(component.sort());
    }
  };
  for (const file of files) if (!indices.has(file)) visit(file);
  if (circles.length > 0) {
    throw new Error(`import circles:\n${circles.map((c) => "  " + c.join(" → ")).join("\n")}`);
  }
});

Deno.test("the core imports no CLI, demo tooling, Deno entry or fixtures; models no calibration", () => {
  const rules: [RegExp, RegExp, string][] = [
    [
      /^(src|shaders|models|calibrate)\//,
      /^(cli|eval|deno|testing|tests|bench)\/|^deno\.ts$/,
      "core",
    ],
    [/^src\//, /^(models|calibrate)\//, "src/ (neutral pieces)"],
    [/^models\//, /^calibrate\//, "models"],
    [/^shaders\//, /^(?!shaders\/)/, "kernels"],
  ];
  const broken: string[] = [];
  for (const [file, imports] of graph) {
    for (const [from, forbidden, what] of rules) {
      if (!from.test(file)) continue;
      for (const target of imports) {
        if (forbidden.test(target)) broken.push(`${what}: ${file} imports ${target}`);
      }
    }
  }
  if (broken.length > 0) throw new Error(broken.join("\n"));
});

Deno.test("nothing reachable from mod.ts uses Deno.* or node:", () => {
  const seen = new Set<string>();
  const queue = ["mod.ts"];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file) || !graph.has(file)) continue;
    seen.add(file);
    queue.push(...graph.get(file)!);
  }
  const offenders = [...seen].filter((file) => {
    const code = texts.get(file)!.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, "");
    return /\bDeno\.|["']node:/.test(code);
  });
  if (seen.size < 50) throw new Error(`only ${seen.size} files reachable from mod.ts`);
  if (offenders.length > 0) throw new Error(`Deno/node: in the core: ${offenders.join(", ")}`);
});

Deno.test("mod.ts exports at most 40 names", () => {
  const text = texts.get("mod.ts")!;
  const names = new Set<string>();
  for (const match of text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of match[1].split(",")) {
      const name = part.trim().replace(/^type\s+/, "").split(/\s+as\s+/).pop()!.trim();
      if (name) names.add(name);
    }
  }
  for (const match of text.matchAll(/export\s+\*\s+as\s+(\w+)/g)) names.add(match[1]);
  if (text.match(/export\s+\*\s+from/)) throw new Error("mod.ts re-exports a whole module");
  if (names.size > 40) throw new Error(`mod.ts exports ${names.size} names: ${[...names]}`);
  if (names.size < 10) throw new Error(`mod.ts export parse found only ${names.size} names`);
});
