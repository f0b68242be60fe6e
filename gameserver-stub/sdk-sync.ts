// The game-server SDK's world sync: keeps the chunks this server holds (id -> version, hash,
// bytes), uploads changed ones, and fetches what the bridge announces and it lacks, within the
// bridge's byte budget (waiting out THROTTLED). After a fresh registration it fetches everything
// in the full manifest, then says `sync:ready`.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Socket } from 'socket.io-client';
import {
  ErrorCode,
  type BridgeToServerEvents, type ChunkMeta, type ServerToBridgeEvents, type SyncGetReply, type SyncManifest,
  type SyncManifestReply, type SyncPutReply, type SyncReadyReply,
} from '../shared/protocol-core.js';

export interface HeldChunk {
  version: number;
  hash: string;
  data: Buffer;
}

interface SyncEvents {
  /** A chunk arrived from another server's upload (or the store). */
  chunk: [id: string, chunk: HeldChunk];
  /** Fetched everything the registration's full manifest listed; the server is `ready`. */
  synced: [{ chunks: number; bytes: number; ms: number }];
  /** A manifest was skipped (`busy`); the next one catches up from the bridge's manifest. */
  skipped: [from: string];
}

export interface WorldSyncOptions {
  /** Bytes asked for in one sync:get (the bridge's budget paces them). */
  batchBytes?: number;
  /** Ids in one sync:get (the bridge's maxSyncIds, 256 by default). */
  batchIds?: number;
  /** True while this server is too loaded to sync: announcements are skipped and caught up later. */
  busy?: () => boolean;
}

type ServerSocket = Socket<BridgeToServerEvents, ServerToBridgeEvents>;

export const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

export class WorldSyncClient extends EventEmitter<SyncEvents> {
  readonly chunks = new Map<string, HeldChunk>();
  /** Bytes fetched with sync:get, and how often the bridge said THROTTLED. */
  fetchedBytes = 0;
  throttled = 0;
  private socket: ServerSocket | undefined;
  private readonly wanted = new Map<string, ChunkMeta>();
  private fetching = false;
  /** A full manifest is being fetched: sync:ready follows once nothing is wanted. */
  private syncingSince: number | undefined;
  /** When the last announcement was skipped, and the store time to catch up from. */
  private behind = false;
  private lastAt = 0;

  constructor(private readonly options: WorldSyncOptions = {}) {
    super();
  }

  /** The SDK's current connection. */
  bind(socket: ServerSocket): void {
    this.socket = socket;
    socket.on('sync:manifest', (m) => this.announced(m));
  }

  /** Called at welcome: `syncing` means a full manifest follows, to fetch before `sync:ready`. */
  welcomed(status: 'syncing' | 'ready'): void {
    this.syncingSince = status === 'syncing' ? Date.now() : undefined;
  }

  /** Uploads a chunk as its next version (or `version`); resolves with the bridge's reply. */
  async put(id: string, data: Uint8Array, version?: number): Promise<SyncPutReply> {
    const bytes = Buffer.from(data);
    const held = this.chunks.get(id);
    const next = version ?? (held?.version ?? 0) + 1;
    const hash = sha256(bytes);
    const reply = await this.ask<SyncPutReply>('sync:put', { id, version: next, hash, data: bytes });
    if (!reply.ok && reply.code === ErrorCode.Throttled) {
      // Over syncPutsPerSecond: the bridge says when the next upload is welcome.
      await new Promise((resolve) => setTimeout(resolve, reply.retryAfterMs ?? 100));
      return this.put(id, data, version);
    }
    if (reply.ok) this.chunks.set(id, { version: next, hash, data: bytes });
    else if (reply.code === ErrorCode.StaleVersion && reply.version !== undefined && version === undefined) {
      // Someone stored a newer version meanwhile: ours goes on top of it.
      this.chunks.set(id, { version: reply.version, hash: held?.hash ?? '', data: held?.data ?? Buffer.alloc(0) });
      return this.put(id, data, reply.version + 1);
    }
    return reply;
  }

  /** Asks the bridge for what changed since the last catch-up (everything the first time) and fetches what we lack. */
  async catchUp(): Promise<void> {
    const reply = await this.ask<SyncManifestReply>('sync:manifest', this.lastAt > 0 ? { since: this.lastAt } : {});
    if (!reply.ok) return;
    this.lastAt = reply.at;
    this.behind = false;
    this.want(reply.chunks);
  }

  private announced(m: SyncManifest): void {
    if (!m.full && this.options.busy?.()) {
      this.behind = true;
      this.emit('skipped', m.from);
      return;
    }
    if (this.behind) {
      this.catchUp().catch(() => {});
      return;
    }
    this.lastAt = Math.max(this.lastAt, ...m.chunks.map((c) => c.at));
    this.want(m.chunks);
  }

  private want(chunks: ChunkMeta[]): void {
    for (const c of chunks) if ((this.chunks.get(c.id)?.version ?? 0) < c.version) this.wanted.set(c.id, c);
    void this.fetch();
  }

  /** One fetch loop at a time: batches by bytes and ids, waits out THROTTLED, then reports ready if syncing. */
  private async fetch(): Promise<void> {
    if (this.fetching) return;
    this.fetching = true;
    const batchBytes = this.options.batchBytes ?? 256 * 1024;
    const batchIds = this.options.batchIds ?? 256;
    try {
      while (this.wanted.size > 0) {
        const ids: string[] = [];
        let bytes = 0;
        for (const [id, meta] of this.wanted) {
          if (ids.length > 0 && (bytes + meta.size > batchBytes || ids.length >= batchIds)) break;
          ids.push(id);
          bytes += meta.size;
        }
        const reply = await this.ask<SyncGetReply>('sync:get', { ids });
        if (reply.ok) {
          for (const c of reply.chunks) this.take(c.id, c.version, c.hash, Buffer.from(c.data));
          for (const id of ids) this.wanted.delete(id);
        } else if (reply.code === ErrorCode.Throttled) {
          this.throttled++;
          await new Promise((r) => setTimeout(r, reply.retryAfterMs ?? 100));
        } else {
          for (const id of reply.ids ?? ids) this.wanted.delete(id);
        }
      }
    } catch {
      // Disconnected: the next registration's manifest starts again.
    } finally {
      this.fetching = false;
    }
    if (this.syncingSince !== undefined && this.wanted.size === 0) await this.ready();
  }

  private take(id: string, version: number, hash: string, data: Buffer): void {
    this.fetchedBytes += data.length;
    this.adopt(id, version, hash, data);
  }

  /** Holds a chunk that came with an area (its export or autosave referred to it), if it is newer than ours. */
  adopt(id: string, version: number, hash: string, data: Buffer): void {
    if (sha256(data) !== hash || (this.chunks.get(id)?.version ?? 0) >= version) return;
    const chunk = { version, hash, data };
    this.chunks.set(id, chunk);
    this.emit('chunk', id, chunk);
  }

  private async ready(): Promise<void> {
    const since = this.syncingSince!;
    const reply = await this.ask<SyncReadyReply>('sync:ready');
    if (!reply.ok || this.syncingSince !== since) return;
    this.syncingSince = undefined;
    let bytes = 0;
    for (const c of this.chunks.values()) bytes += c.data.length;
    this.emit('synced', { chunks: this.chunks.size, bytes, ms: Date.now() - since });
  }

  private ask<R>(event: 'sync:put' | 'sync:get' | 'sync:manifest' | 'sync:ready', payload?: unknown): Promise<R> {
    const socket = this.socket;
    if (!socket?.connected) return Promise.reject(new Error('not connected'));
    const timed = socket.timeout(30_000) as unknown as { emitWithAck(e: string, ...args: unknown[]): Promise<R> };
    return payload === undefined ? timed.emitWithAck(event) : timed.emitWithAck(event, payload);
  }
}
