// The network listed once (seed 004, R12): the oldest live bridge node holds a lease in Redis and
// posts the network's listing (name, servers, players, load, public URL) to `listingUrl` every
// `listingIntervalMs`. When it dies its lease runs out and the next oldest takes over.
import type { Logger } from 'winston';
import type { BridgeConfig } from '../../shared/config.js';
import type { Keys } from '../../shared/keys.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { ListingScripts } from '../authority/lua-scripts.js';
import type { RedisClock } from '../authority/redis-clock.js';
import type { RedisClient } from '../authority/redis-connection.js';
import type { Metrics } from './metrics.js';

export interface Listing {
  name: string;
  world: string;
  url: string | null;
  servers: { id: string; status: string; load: number; power: number; players: number }[];
  players: number;
  load: number;
  at: number;
}

export class NetworkListing {
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private postedAt = 0;

  constructor(
    private readonly config: BridgeConfig,
    private readonly keys: Keys,
    private readonly redis: RedisClient,
    private readonly clock: RedisClock,
    private readonly scripts: ListingScripts,
    private readonly cache: AuthorityCache,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /**
   * Records this node's start (its place in the list), then competes for the lease every third of
   * `listingLeaseMs`. The lease is held for two thirds of it: a leader that dies is replaced by the
   * next check after its lease ran out, so within `listingLeaseMs` (once its heartbeat has run out too).
   */
  async start(): Promise<void> {
    await this.redis.zadd(this.keys.nodesByAge, 'NX', await this.clock.now(), this.config.nodeId);
    if (!this.config.listingUrl) return;
    this.timer = setInterval(() => void this.round(), Math.max(100, Math.floor(this.config.listingLeaseMs / 3)));
    await this.round();
  }

  stop(): void {
    clearInterval(this.timer);
    this.leading = false;
  }

  /** What the listing says now (also served as part of GET /v1/network). */
  listing(): Listing {
    const players = new Map<string, number>();
    let total = 0;
    for (const p of this.cache.players.values()) {
      if (p.server === '') continue;
      total++;
      players.set(p.server, (players.get(p.server) ?? 0) + 1);
    }
    const servers = [...this.cache.servers.values()].filter((s) => s.status !== 'gone' && s.status !== 'dead');
    return {
      name: this.config.networkName ?? this.config.world,
      world: this.config.world,
      url: this.config.publicUrl ?? null,
      servers: servers.map((s) => ({ id: s.id, status: s.status, load: s.load, power: s.power, players: players.get(s.id) ?? 0 })),
      players: total,
      load: servers.reduce((sum, s) => sum + s.load, 0),
      at: Date.now(),
    };
  }

  private async round(): Promise<void> {
    const { listingLeaseMs, listingIntervalMs, nodeId } = this.config;
    try {
      const k = this.keys;
      const ttl = Math.round((listingLeaseMs * 2) / 3);
      const leads = (await this.scripts.listingLease(k.listingLeader, k.nodes, k.nodesByAge, nodeId, ttl)) === 1;
      if (leads !== this.leading) this.logger.info(leads ? 'listing leader: this node posts the listing' : 'no longer the listing leader');
      this.leading = leads;
      if (leads && Date.now() - this.postedAt >= listingIntervalMs) {
        this.postedAt = Date.now();
        await this.post();
      }
    } catch (err) {
      this.logger.warn('listing round failed', { err: (err as Error).message });
    }
  }

  private async post(): Promise<void> {
    const url = this.config.listingUrl!;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...this.listing(), postedBy: this.config.nodeId }),
        signal: AbortSignal.timeout(5000),
      });
      this.metrics.listingPosts.inc({ outcome: res.ok ? 'ok' : 'refused' });
      if (!res.ok) this.logger.warn('listing refused', { url, status: res.status });
    } catch (err) {
      this.metrics.listingPosts.inc({ outcome: 'failed' });
      this.logger.warn('listing not posted', { url, err: (err as Error).message });
    }
  }
}
