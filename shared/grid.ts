// The world's grid: areas are "col,row". Pure helpers for neighbourhoods (Chebyshev distance).

/**
 * An area's column and row, for its one canonical spelling only ("1,0": no leading zeros, no signs, no spaces):
 * "01,0" would name the same cell under another id, with a channel and a subscription of its own.
 */
export function parseArea(area: string): [number, number] | undefined {
  const m = /^(0|[1-9]\d{0,8}),(0|[1-9]\d{0,8})$/.exec(area);
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
