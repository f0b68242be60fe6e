/**
 * The current entry per key (a player's session, a server's link). A replaced entry is not
 * removed by its own late cleanup: remove() only removes the entry that is still current.
 */
export class Registry<T> {
  private readonly byKey = new Map<string, T>();

  constructor(private readonly keyOf: (entry: T) => string) {}

  get(key: string): T | undefined {
    return this.byKey.get(key);
  }

  /** Makes the entry current; returns the one it replaces, if any. */
  add(entry: T): T | undefined {
    const key = this.keyOf(entry);
    const old = this.byKey.get(key);
    this.byKey.set(key, entry);
    return old;
  }

  remove(entry: T): boolean {
    const key = this.keyOf(entry);
    if (this.byKey.get(key) !== entry) return false;
    this.byKey.delete(key);
    return true;
  }

  values(): IterableIterator<T> {
    return this.byKey.values();
  }

  get size(): number {
    return this.byKey.size;
  }
}
