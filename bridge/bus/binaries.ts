// Binary values (chunk bytes in an `area:import`) inside a bus request or reply. JSON would turn a Buffer
// into {"type":"Buffer","data":[…]}: they travel beside the body instead, base64 with their path, and are
// put back as Buffers on arrival. Nothing in the body is a marker, so no JSON a peer sent can pass for one.
export type Binaries = [path: (string | number)[], base64: string][];

/** The value with every Uint8Array replaced by null (copying only what holds one), and those binaries. */
export function takeBinaries(value: unknown): { value: unknown; bins: Binaries } {
  const bins: Binaries = [];
  const walk = (v: unknown, path: (string | number)[]): unknown => {
    if (v instanceof Uint8Array) {
      bins.push([path, Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')]);
      return null;
    }
    if (typeof v !== 'object' || v === null) return v;
    let copy: Record<string | number, unknown> | undefined;
    const entries: [string | number, unknown][] = Array.isArray(v) ? (v as unknown[]).map((x, i) => [i, x]) : Object.entries(v);
    for (const [k, x] of entries) {
      const w = walk(x, [...path, k]);
      if (w !== x) (copy ??= (Array.isArray(v) ? [...(v as unknown[])] : { ...v }) as Record<string | number, unknown>)[k] = w;
    }
    return copy ?? v;
  };
  return { value: walk(value, []), bins };
}

/** Puts the binaries back where takeBinaries found them (in place); returns the value. */
export function putBinaries(value: unknown, bins: Binaries): unknown {
  let out = value;
  for (const [path, base64] of bins) {
    const bytes = Buffer.from(base64, 'base64');
    if (path.length === 0) {
      out = bytes;
      continue;
    }
    let holder = out as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) holder = holder[key] as Record<string | number, unknown>;
    holder[path.at(-1)!] = bytes;
  }
  return out;
}
