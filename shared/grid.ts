// The world's grid: areas are "col,row". Pure helpers for neighbourhoods (Chebyshev distance).
export function parseArea(area: string): [number, number] | undefined {
  const m = /^(\d+),(\d+)$/.exec(area);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export function isInGrid(area: string, cols: number, rows: number): boolean {
  const p = parseArea(area);
  return p !== undefined && p[0] < cols && p[1] < rows;
}

/** The areas within `radius` of `area` (itself included), clipped to the grid. */
export function neighbourhood(area: string, radius: number, cols: number, rows: number): string[] {
  const p = parseArea(area);
  if (!p) return [];
  const out: string[] = [];
  for (let c = Math.max(0, p[0] - radius); c <= Math.min(cols - 1, p[0] + radius); c++) {
    for (let r = Math.max(0, p[1] - radius); r <= Math.min(rows - 1, p[1] + radius); r++) out.push(`${c},${r}`);
  }
  return out;
}
