/** A small dependency-free SVG scatter/line plot for reports. */

export interface PlotSeries {
  label: string;
  points: { x: number; y: number; note?: string }[];
  color: string;
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** "Nice" tick values covering [min, max]. */
function ticks(min: number, max: number, count = 5): number[] {
  const span = max - min || Math.abs(max) || 1;
  const rough = span / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? power * 10;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    out.push(+v.toPrecision(12));
  }
  return out;
}

/** Renders the series as points joined by lines, sorted by x. */
export function scatterPlotSvg(series: readonly PlotSeries[], options: PlotOptions): string {
  const width = options.width ?? 560, height = options.height ?? 360;
  const margin = { left: 64, right: 20, top: 36, bottom: 52 };
  const all = series.flatMap((s) => s.points).filter((p) =>
    Number.isFinite(p.x) && Number.isFinite(p.y)
  );
  const xs = all.map((p) => p.x), ys = all.map((p) => p.y);
  const pad = (lo: number, hi: number) => {
    const d = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
    return [lo - d, hi + d];
  };
  const [x0, x1] = pad(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
  const px = (x: number) =>
    margin.left + ((x - x0) / (x1 - x0)) * (width - margin.left - margin.right);
  const py = (y: number) =>
    height - margin.bottom - ((y - y0) / (y1 - y0)) * (height - margin.top - margin.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${
      escapeXml(options.title)
    }</text>`,
  ];
  for (const t of ticks(x0, x1)) {
    parts.push(
      `<line x1="${px(t)}" y1="${margin.top}" x2="${px(t)}" y2="${
        height - margin.bottom
      }" stroke="#eee"/>`,
      `<text x="${px(t)}" y="${height - margin.bottom + 16}" text-anchor="middle">${t}</text>`,
    );
  }
  for (const t of ticks(y0, y1)) {
    parts.push(
      `<line x1="${margin.left}" y1="${py(t)}" x2="${width - margin.right}" y2="${
        py(t)
      }" stroke="#eee"/>`,
      `<text x="${margin.left - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`,
    );
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${
      width - margin.left - margin.right
    }" height="${height - margin.top - margin.bottom}" fill="none" stroke="#333"/>`,
    `<text x="${width / 2}" y="${height - 12}" text-anchor="middle">${
      escapeXml(options.xLabel)
    }</text>`,
    `<text transform="translate(16 ${height / 2}) rotate(-90)" text-anchor="middle">${
      escapeXml(options.yLabel)
    }</text>`,
  );
  series.forEach((s, i) => {
    const points = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).sort((
      a,
      b,
    ) => a.x - b.x);
    if (points.length > 1) {
      const path = points.map((p, k) =>
        `${k === 0 ? "M" : "L"}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`
      ).join(" ");
      parts.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    }
    for (const p of points) {
      parts.push(
        `<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="4" fill="${s.color}"/>`,
      );
      if (p.note) {
        parts.push(
          `<text x="${(px(p.x) + 6).toFixed(1)}" y="${
            (py(p.y) - 6).toFixed(1)
          }" fill="${s.color}">${escapeXml(p.note)}</text>`,
        );
      }
    }
    parts.push(
      `<text x="${width - margin.right - 8}" y="${
        margin.top + 16 + 16 * i
      }" text-anchor="end" fill="${s.color}">${escapeXml(s.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}
