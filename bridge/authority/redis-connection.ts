// How a node reaches Redis: one server (given by URL, or found through Sentinel) or a Redis Cluster.
// Every connection is made here: not lazy (ioredis connects and retries on its own), reconnect
// attempts at most 250 ms apart, and while a restarted Redis loads its data a ready check every
// 100 ms (ioredis waits up to 1 s by default), so the mesh is back soon after Redis.
//
// Pub/sub is sharded everywhere (SPUBLISH/SSUBSCRIBE, Redis 7). On a cluster a message then goes
// only to the shard that owns its channel's slot (plain PUBLISH is copied over the cluster bus to
// every node), and a channel published by a script in the world's slot (authority changes, chat)
// is heard from the world's own server, in the order of the writes, as on one server. The channels
// with their own hash tag (one per node, one per area) spread over the shards.
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import type { Logger } from 'winston';
import type { BridgeConfig } from '../../shared/config.js';

export type RedisClient = Redis | Cluster;

export interface ConnectionOptions {
  /** 2 for the node's own commands (fail fast, the caller decides), null for BullMQ's (it requires it). */
  maxRetriesPerRequest?: number | null;
  /** The connection will subscribe (on a cluster: one subscriber connection per shard). */
  subscriber?: boolean;
}

export interface RedisDeployment {
  readonly kind: 'standalone' | 'sentinel' | 'cluster';
  /** For the logs: where Redis is (never a password). */
  readonly where: string;
  /** A new connection; errors are logged under `name`, or ignored without a logger. */
  connect(name: string, logger: Logger | undefined, opts?: ConnectionOptions): RedisClient;
  /** How many connections subscribe to each channel right now (asked of the shard that owns it). */
  subscribers(conn: RedisClient, channels: string[]): Promise<number[]>;
}

const retryStrategy = (times: number) => Math.min(times * 50, 250);
const COMMON: RedisOptions = { maxLoadingRetryTime: 100, retryStrategy };

const retries = (opts: ConnectionOptions) => (opts.maxRetriesPerRequest === undefined ? 2 : opts.maxRetriesPerRequest);

function logged<T extends RedisClient>(conn: T, name: string, logger: Logger | undefined): T {
  conn.on('error', (err: Error) => logger?.warn(`${name} error`, { err: err.message }));
  return conn;
}

const numsub = (reply: unknown[]) => reply.filter((_, i) => i % 2 === 1).map(Number);

/** One Redis server; with `redisSentinels`, the master that Sentinel names (ioredis follows a failover). */
class SingleServer implements RedisDeployment {
  readonly kind;
  readonly where;
  private readonly url: string;
  private readonly options: RedisOptions;

  constructor(config: BridgeConfig) {
    const url = new URL(config.redisUrl);
    if (config.redisSentinels.length === 0) {
      this.kind = 'standalone' as const;
      this.where = `${url.protocol}//${url.host}`;
      this.options = {};
    } else {
      this.kind = 'sentinel' as const;
      this.where = `sentinel master '${config.redisSentinelName}' via ${config.redisSentinels.join(',')}`;
      this.options = {
        sentinels: config.redisSentinels.map((s) => {
          const at = s.lastIndexOf(':');
          return { host: s.slice(0, at), port: Number(s.slice(at + 1)) };
        }),
        name: config.redisSentinelName,
        sentinelRetryStrategy: retryStrategy,
        ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      };
    }
    this.url = config.redisUrl;
  }

  connect(name: string, logger: Logger | undefined, opts: ConnectionOptions = {}): Redis {
    const options = { ...COMMON, maxRetriesPerRequest: retries(opts), ...this.options };
    return logged(this.kind === 'standalone' ? new Redis(this.url, options) : new Redis(options), name, logger);
  }

  async subscribers(conn: RedisClient, channels: string[]): Promise<number[]> {
    return numsub((await conn.pubsub('SHARDNUMSUB', ...channels)));
  }
}

/** A Redis Cluster, reached through any of `redisClusterNodes`. */
class RedisCluster implements RedisDeployment {
  readonly kind = 'cluster' as const;
  readonly where: string;
  private readonly nodes: ClusterNode[];
  private readonly password: string | undefined;

  constructor(config: BridgeConfig) {
    const urls = config.redisClusterNodes.map((u) => new URL(u));
    this.nodes = urls.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) }));
    this.password = urls[0]?.password ? decodeURIComponent(urls[0].password) : undefined;
    this.where = `cluster via ${urls.map((u) => u.host).join(',')}`;
  }

  connect(name: string, logger: Logger | undefined, opts: ConnectionOptions = {}): Cluster {
    const failFast = retries(opts) !== null;
    return logged(new Cluster(this.nodes, {
      shardedSubscribers: opts.subscriber === true,
      // The cluster queues commands while it has no slot map, with no bound: fail fast instead, as one
      // server does after maxRetriesPerRequest (BullMQ's connections keep the queue; BullMQ wants it).
      enableOfflineQueue: !failFast,
      clusterRetryStrategy: retryStrategy,
      redisOptions: {
        ...COMMON,
        maxRetriesPerRequest: retries(opts),
        ...(this.password ? { password: this.password } : {}),
      },
    }), name, logger);
  }

  /** A shard answers SHARDNUMSUB for its own channels and 0 for the others': the sum over the masters is the count. */
  async subscribers(conn: RedisClient, channels: string[]): Promise<number[]> {
    const masters = (conn as Cluster).nodes('master');
    const replies = await Promise.all(masters.map(async (m) => numsub((await m.pubsub('SHARDNUMSUB', ...channels)))));
    return channels.map((_, i) => replies.reduce((sum, r) => sum + (r[i] ?? 0), 0));
  }
}

export function redisDeployment(config: BridgeConfig): RedisDeployment {
  return config.redisClusterNodes.length > 0 ? new RedisCluster(config) : new SingleServer(config);
}
