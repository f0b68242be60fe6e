// This node's subscriber connection: each channel has one handler, registered by the part that
// owns it (the authority cache, the node bus, the area channels, chat). A handler that throws is
// counted and logged; the next message is handled as usual. Channels are sharded (SSUBSCRIBE, see
// ../authority/redis-connection.ts). Subscriptions are restored by ioredis after a reconnect;
// `onBack` tells the parts that whatever was published meanwhile is gone.
import type { Logger } from 'winston';
import { ErrorCode } from '../../shared/protocol.js';
import type { RedisClient } from '../authority/redis-connection.js';
import type { Metrics } from '../ops/metrics.js';

export class Subscriber {
  private readonly handlers = new Map<string, (message: string) => void>();

  constructor(
    readonly conn: RedisClient,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    conn.on('smessage', (channel: string, message: string) => {
      try {
        this.handlers.get(channel)?.(message);
      } catch (err) {
        this.metrics.errors.inc({ code: ErrorCode.Internal, side: 'node' });
        this.logger.error('pub/sub message failed', { channel, err: err instanceof Error ? err.stack ?? err.message : String(err) });
      }
    });
  }

  /** Routes a channel's messages to `handler` (one per channel); subscribed from start() on. */
  route(channel: string, handler: (message: string) => void): void {
    if (this.handlers.has(channel)) throw new Error(`subscriber: '${channel}' already has a handler`);
    this.handlers.set(channel, handler);
  }

  /** Subscribes to a channel now (the node is running), routing its messages to `handler`. */
  async listen(channel: string, handler: (message: string) => void): Promise<void> {
    this.handlers.set(channel, handler);
    await this.conn.ssubscribe(channel);
  }

  /** Stops listening to a channel; messages already on their way are dropped. */
  async unlisten(channel: string): Promise<void> {
    this.handlers.delete(channel);
    await this.conn.sunsubscribe(channel);
  }

  /** One SSUBSCRIBE per channel: on a cluster, one call may only name channels of one slot. */
  async start(): Promise<void> {
    await Promise.all([...this.handlers.keys()].map((c) => this.conn.ssubscribe(c)));
  }

  get ready(): boolean {
    return this.conn.status === 'ready';
  }

  /** The connection dropped (on a cluster: also a shard's subscriber): messages published until it is back are lost. */
  onLost(listener: () => void): void {
    this.conn.on('close', listener);
    this.conn.on('-node', listener);
  }

  /** Subscribed again (on a cluster: also once the slots were refreshed after a lost node, which resubscribes its shards). */
  onBack(listener: () => void): void {
    this.conn.on('ready', listener);
    this.conn.on('refresh', listener);
  }
}
