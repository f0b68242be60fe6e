// World synchronisation (seed 004 "Synchronization", "Registering new servers"): servers upload
// changed chunks (`sync:put`), which are announced to the others in batches, each server at its own
// phase of the interval (`sync:manifest`); each fetches what it lacks (`sync:get`) within a byte
// budget. A freshly registered server gets the full manifest and is `syncing` until `sync:ready`.
import { createHash } from 'node:crypto';
import type { Logger } from 'winston';
import type { BridgeConfig } from '../../shared/config.js';
import {
  ChunkGetSchema, ChunkPutSchema, ErrorCode, SYNC_FROM_STORE, SyncManifestRequestSchema,
  type ChunkMeta, type SyncGetReply, type SyncManifestReply, type SyncPutReply, type SyncReadyReply,
} from '../../shared/protocol.js';
import { TokenBucket } from '../../shared/token-bucket.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { AuthorityMap } from '../authority/authority-map.js';
import type { NodeBus } from '../bus/node-bus.js';
import type { Metrics } from '../ops/metrics.js';
import type { ServerGateway } from '../relay/server-gateway.js';
import { refusal, type Refusal, type Respond } from '../relay/wire-error.js';
import type { ServerLink, ServerLinks } from '../relay/server-link.js';
import type { ChunkStore } from './chunk-store.js';

export interface SyncSummary {
  chunks: number;
  bytes: number;
  owners: Record<string, { chunks: number; bytes: number }>;
  syncing: string[];
  /** Bytes servers uploaded and fetched through this node. */
  uploadedHere: number;
  fetchedHere: number;
}

export interface WorldSyncDeps {
  config: BridgeConfig;
  store: ChunkStore;
  cache: AuthorityCache;
  map: AuthorityMap;
  links: ServerLinks;
  gateway: ServerGateway;
  bus: NodeBus;
  metrics: Metrics;
  logger: Logger;
}

/** Per linked server: its byte budget, and the announcements waiting for its phase of the interval. */
interface Peer {
  bucket: TokenBucket;
  /** Its uploads per second (sync:put), so that no server fills the store faster than the others can follow. */
  puts: TokenBucket;
  outbox: Map<string, Map<string, ChunkMeta>>;
  timers: NodeJS.Timeout[];
}

export class WorldSync {
  private readonly peers = new Map<ServerLink, Peer>();
  /** Uploads through this node since the last announcement, by uploading server. */
  private readonly uploaded = new Map<string, Map<string, ChunkMeta>>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly d: WorldSyncDeps) {
    const { gateway, bus, config } = d;
    gateway.handle('sync:put', (link, p, respond) => this.put(link, p, respond));
    gateway.handle('sync:get', (link, p, respond) => this.get(link, p, respond));
    gateway.handle('sync:manifest', (link, p, respond) => this.manifest(link, p, respond));
    gateway.handle('sync:ready', (link, _p, respond) => this.ready(link, respond));
    gateway.onLink((link, status) => this.linked(link, status));
    gateway.onUnlink((link) => this.unlinked(link));
    bus.on('manifest', (m) => this.queue(m.from, m.chunks));
    this.timer = setInterval(() => this.announce(), config.syncIntervalMs).unref();
  }

  close(): void {
    clearInterval(this.timer);
    for (const link of [...this.peers.keys()]) this.unlinked(link);
  }

  /** For the dashboard: chunks and bytes per uploading server, servers still syncing, this node's sync traffic. */
  async summary(): Promise<SyncSummary> {
    const owners: Record<string, { chunks: number; bytes: number }> = {};
    let bytes = 0;
    const index = await this.d.store.index();
    for (const c of index) {
      const o = (owners[c.owner] ??= { chunks: 0, bytes: 0 });
      o.chunks++;
      o.bytes += c.size;
      bytes += c.size;
    }
    const traffic = await this.d.metrics.syncBytes.get();
    const sum = (direction: string) => traffic.values.filter((v) => v.labels.direction === direction).reduce((t, v) => t + v.value, 0);
    return {
      chunks: index.length,
      bytes,
      owners,
      syncing: [...this.d.cache.servers.values()].filter((s) => s.status === 'syncing').map((s) => s.id),
      uploadedHere: sum('in'),
      fetchedHere: sum('out'),
    };
  }

  private linked(link: ServerLink, status: 'syncing' | 'ready'): void {
    const { syncIntervalMs, syncBytesPerSecond, syncPutsPerSecond } = this.d.config;
    // Debt allowed (a request may be larger than the burst): a tenth of a second's worth up front.
    const peer: Peer = {
      bucket: new TokenBucket(syncBytesPerSecond, syncBytesPerSecond / 10), puts: new TokenBucket(syncPutsPerSecond, syncPutsPerSecond * 4),
      outbox: new Map(), timers: [],
    };
    this.peers.set(link, peer);
    // Each server's own phase within the interval, fixed by its id: not every server fetches at once.
    const start = setTimeout(() => {
      this.deliver(link, peer);
      peer.timers.push(setInterval(() => this.deliver(link, peer), syncIntervalMs).unref());
    }, phaseOf(link.serverId, syncIntervalMs)).unref();
    peer.timers.push(start);
    if (status === 'syncing') {
      this.d.store.index().then(
        (chunks) => {
          if (this.peers.get(link) !== peer) return;
          this.d.metrics.syncManifests.inc({ full: 'true' });
          link.socket.emit('sync:manifest', { from: SYNC_FROM_STORE, chunks, full: true });
        },
        (err: Error) => this.d.logger.warn('full manifest not sent', { server: link.serverId, err: err.message }),
      );
    }
  }

  private unlinked(link: ServerLink): void {
    const peer = this.peers.get(link);
    if (!peer) return;
    for (const t of peer.timers) clearTimeout(t);
    this.peers.delete(link);
  }

  /** Every node's servers hear of this node's uploads once per interval: one publish per uploading server. */
  private announce(): void {
    for (const [from, chunks] of this.uploaded) {
      const list = [...chunks.values()];
      this.queue(from, list);
      this.d.bus.broadcast({ t: 'manifest', from, chunks: list });
    }
    this.uploaded.clear();
  }

  private queue(from: string, chunks: ChunkMeta[]): void {
    for (const [link, peer] of this.peers) {
      if (link.serverId === from) continue;
      let box = peer.outbox.get(from);
      if (!box) peer.outbox.set(from, (box = new Map<string, ChunkMeta>()));
      for (const c of chunks) if ((box.get(c.id)?.version ?? 0) < c.version) box.set(c.id, c);
    }
  }

  private deliver(link: ServerLink, peer: Peer): void {
    for (const [from, box] of peer.outbox) {
      this.d.metrics.syncManifests.inc({ full: 'false' });
      link.socket.emit('sync:manifest', { from, chunks: [...box.values()], full: false });
    }
    peer.outbox.clear();
  }

  private async put(link: ServerLink, raw: unknown, respond: Respond): Promise<void> {
    const { config, store, metrics } = this.d;
    const answer = (r: SyncPutReply) => respond(r);
    const parsed = ChunkPutSchema.safeParse(raw);
    if (!parsed.success) {
      return answer(refusal(ErrorCode.BadInput, `sync:put must be { id, version, hash, data (binary) }: ${issueOf(parsed.error)}`));
    }
    const c = parsed.data;
    if (!this.registered(link)) return answer(this.notRegistered(link));
    const puts = this.peers.get(link)!.puts;
    if (!puts.take()) {
      const retryAfterMs = puts.waitMs(Date.now());
      return answer({ ok: false, code: ErrorCode.Throttled, retryAfterMs, message: `over syncPutsPerSecond; retry in ${retryAfterMs} ms` });
    }
    if (c.data.length > config.maxChunkBytes)
      return answer(refusal(ErrorCode.ChunkTooLarge, `chunk ${c.id}: ${c.data.length} bytes, over ${config.maxChunkBytes}`));
    const actual = createHash('sha256').update(c.data).digest('hex');
    if (actual !== c.hash) return answer(refusal(ErrorCode.BadHash, `chunk ${c.id}: its bytes hash to ${actual}, not ${c.hash}`));
    const out = await store.put({ ...c, owner: link.serverId });
    if (!out.ok) {
      return answer({
        ok: false, code: ErrorCode.StaleVersion, version: out.version,
        message: `chunk ${c.id}: the store holds version ${out.version}, so ${c.version} is not newer`,
      });
    }
    metrics.syncBytes.inc({ direction: 'in' }, c.data.length);
    metrics.syncChunks.inc({ outcome: out.stored ? 'stored' : 'deduplicated' });
    let mine = this.uploaded.get(link.serverId);
    if (!mine) this.uploaded.set(link.serverId, (mine = new Map<string, ChunkMeta>()));
    mine.set(c.id, { id: c.id, version: c.version, hash: c.hash, size: c.data.length, owner: link.serverId, at: out.at });
    answer({ ok: true, stored: out.stored });
  }

  private async get(link: ServerLink, raw: unknown, respond: Respond): Promise<void> {
    const { config, store, metrics } = this.d;
    const answer = (r: SyncGetReply) => respond(r);
    const parsed = ChunkGetSchema.safeParse(raw);
    if (!parsed.success) return answer(refusal(ErrorCode.BadInput, `sync:get must be { ids: [chunk ids] }: ${issueOf(parsed.error)}`));
    // The limit is on what was sent, before duplicates are removed: 10,000 copies of one id are 10,000 ids to parse.
    if (parsed.data.ids.length > config.maxSyncIds) {
      return answer(refusal(ErrorCode.BadInput, `sync:get names ${parsed.data.ids.length} ids, over maxSyncIds (${config.maxSyncIds})`));
    }
    const ids = [...new Set(parsed.data.ids)];
    if (!this.registered(link)) return answer(this.notRegistered(link));
    const metas = await store.index(ids);
    if (metas.length < ids.length) {
      const known = new Set(metas.map((m) => m.id));
      const unknown = ids.filter((id) => !known.has(id));
      return answer({ ok: false, code: ErrorCode.UnknownChunk, message: `no chunk ${unknown.slice(0, 5).join(', ')}`, ids: unknown });
    }
    const bytes = metas.reduce((sum, m) => sum + m.size, 0);
    if (bytes > config.maxSyncReplyBytes) {
      const message = `sync:get of ${bytes} bytes, over maxSyncReplyBytes (${config.maxSyncReplyBytes}): ask for fewer ids`;
      return answer(refusal(ErrorCode.BadInput, message));
    }
    const bucket = this.peers.get(link)!.bucket;
    const now = Date.now();
    if (!bucket.spend(now, bytes)) {
      const retryAfterMs = bucket.waitMs(now, 0);
      const message = `over syncBytesPerSecond; retry in ${retryAfterMs} ms`;
      return answer({ ok: false, code: ErrorCode.Throttled, retryAfterMs, message });
    }
    const chunks = await store.read(metas);
    metrics.syncBytes.inc({ direction: 'out' }, chunks.reduce((sum, c) => sum + c.data.length, 0));
    answer({ ok: true, chunks });
  }

  private async manifest(link: ServerLink, raw: unknown, respond: Respond): Promise<void> {
    const answer = (r: SyncManifestReply) => respond(r);
    const parsed = SyncManifestRequestSchema.safeParse(raw ?? {});
    if (!parsed.success) return answer(refusal(ErrorCode.BadInput, `sync:manifest must be { since?: ms }: ${issueOf(parsed.error)}`));
    if (!this.registered(link)) return answer(this.notRegistered(link));
    const since = parsed.data.since;
    const [at, all] = await Promise.all([this.d.store.now(), this.d.store.index()]);
    answer({ ok: true, full: since === undefined, at, chunks: since === undefined ? all : all.filter((c) => c.at >= since) });
  }

  private async ready(link: ServerLink, respond: Respond): Promise<void> {
    const answer = (r: SyncReadyReply) => respond(r);
    if (!this.registered(link)) return answer(this.notRegistered(link));
    if (this.d.cache.servers.get(link.serverId)?.status === 'ready') return answer({ ok: true });
    const synced = await this.d.map.setServerStatus(link.serverId, link.epoch, 'synced');
    if (synced) this.d.logger.info('server synced', { server: link.serverId, epoch: link.epoch });
    // Not applied: already ready (a second sync:ready), or no longer this session's.
    const rec = synced ? undefined : await this.d.map.serverRecord(link.serverId);
    if (synced || (rec?.epoch === link.epoch && rec.status === 'ready')) return answer({ ok: true });
    answer(this.notRegistered(link));
  }

  /** The link is its server's current registration (not replaced, fenced or declared dead). */
  private registered(link: ServerLink): boolean {
    const info = this.d.cache.servers.get(link.serverId);
    return this.d.links.get(link.serverId) === link && info?.epoch === link.epoch && info.status !== 'dead' && info.status !== 'gone';
  }

  private notRegistered(link: ServerLink): Refusal {
    return refusal(ErrorCode.NotRegistered, `server ${link.serverId} epoch ${link.epoch} is not registered (replaced, fenced or dead)`);
  }

}

function issueOf(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.map(String).join('.')}: ${issue.message}` : 'malformed';
}

/** A fixed offset in [0, intervalMs) per server id (FNV-1a), spreading servers over the interval. */
export function phaseOf(serverId: string, intervalMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < serverId.length; i++) h = Math.imul(h ^ serverId.charCodeAt(i), 0x01000193) >>> 0;
  return h % intervalMs;
}
