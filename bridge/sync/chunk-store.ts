// Where world chunks live: an index (id -> version, hash, size, owner, time) and the bytes,
// content-addressed by their SHA-256. The interface is what the sync part needs; Redis is the
// embedded default. An S3-compatible store would keep the index (and its compare-and-set) in Redis
// and put the bytes in a bucket under their hash (see docs/operations.md "World data").
import type { ChunkData, ChunkMeta } from '../../shared/protocol.js';
import type { Keys } from '../../shared/keys.js';
import type { ChunkScripts } from '../authority/lua-scripts.js';
import type { RedisClock } from '../authority/redis-clock.js';
import type { RedisClient } from '../authority/redis-connection.js';

export type PutOutcome = { ok: true; stored: boolean; at: number } | { ok: false; version: number };

export interface ChunkStore {
  /** Moves chunk `id` to `version` with these bytes, if that is forward (else: the version held). */
  put(chunk: ChunkData & { owner: string }): Promise<PutOutcome>;
  /** The index: every chunk, or these ids (an unknown id is absent from the result). */
  index(ids?: string[]): Promise<ChunkMeta[]>;
  /** The bytes of these index entries (a chunk replaced since the entry was read comes in its newer version). */
  read(chunks: ChunkMeta[]): Promise<ChunkData[]>;
  /** Now, by the store's clock (what `at` is measured in). */
  now(): Promise<number>;
}

/** Index entries are "version hash size owner at" (no JSON: versions up to 2^53 stay exact in Lua). */
function parseEntry(id: string, raw: string): ChunkMeta {
  const [version, hash, size, owner, at] = raw.split(' ');
  return { id, version: Number(version), hash: hash!, size: Number(size), owner: owner!, at: Number(at) };
}

export class RedisChunkStore implements ChunkStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly scripts: ChunkScripts,
    private readonly keys: Keys,
    private readonly clock: RedisClock,
  ) {}

  async put(c: ChunkData & { owner: string }): Promise<PutOutcome> {
    const k = this.keys;
    // The script refuses if the entry changed after we read it (it must name the old bytes' key).
    for (;;) {
      const raw = await this.redis.hget(k.chunkIndex, c.id);
      const seen = raw === null ? '' : parseEntry(c.id, raw).hash;
      const r = (await this.scripts.chunkPut(
        k.chunkIndex, k.chunkRefs, k.chunkBytes(c.hash), k.chunkBytes(seen || c.hash),
        c.id, c.version, c.hash, c.data.length, c.owner, Buffer.from(c.data.buffer, c.data.byteOffset, c.data.length), seen,
      )) as [number, number | string, string?];
      if (r[0] === 1) return { ok: true, stored: r[1] === 1, at: Number(r[2]) };
      if (r[0] === 0) return { ok: false, version: Number(r[1]) };
    }
  }

  async index(ids?: string[]): Promise<ChunkMeta[]> {
    if (ids === undefined) {
      const all = await this.redis.hgetall(this.keys.chunkIndex);
      return Object.entries(all).map(([id, raw]) => parseEntry(id, raw));
    }
    if (ids.length === 0) return [];
    const rows = await this.redis.hmget(this.keys.chunkIndex, ...ids);
    return ids.flatMap((id, i) => (rows[i] ? [parseEntry(id, rows[i])] : []));
  }

  async read(chunks: ChunkMeta[]): Promise<ChunkData[]> {
    const out: ChunkData[] = [];
    let metas = chunks;
    // Twice at most: bytes deleted since the entry was read belong to a chunk that moved on;
    // reading its entry again finds the newer bytes.
    for (let attempt = 0; attempt < 2 && metas.length > 0; attempt++) {
      if (attempt > 0) metas = await this.index(metas.map((m) => m.id));
      const pipe = this.redis.pipeline();
      for (const m of metas) pipe.getBuffer(this.keys.chunkBytes(m.hash));
      const rows = (await pipe.exec()) ?? [];
      const missing: ChunkMeta[] = [];
      metas.forEach((m, i) => {
        const data = rows[i]?.[1] as Buffer | null | undefined;
        if (data) out.push({ id: m.id, version: m.version, hash: m.hash, data });
        else missing.push(m);
      });
      metas = missing;
    }
    return out;
  }

  now(): Promise<number> {
    return this.clock.now();
  }
}
