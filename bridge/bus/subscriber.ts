// This node's subscriber connection: each channel has one handler, registered by the part that
// owns it (the authority cache, the node bus). A handler that throws is counted and logged; the
// next message is handled as usual. Subscriptions are restored by ioredis after a reconnect;
// `onBack` tells the parts that whatever was published meanwhile is gone.
import type { Redis } from 'ioredis';
import type { Logger } from 'winston';
import { ErrorCode } from '../../shared/protocol.js';
import type { Metrics } from '../ops/metrics.js';

export class Subscriber {
  private readonly handlers = new Map<string, (message: string) => void>();

  constructor(
    readonly conn: Redis,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    conn.on('message', (channel: string, message: string) => {
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
    await this.conn.subscribe(channel);
  }

  /** Stops listening to a channel; messages already on their way are dropped. */
  async unlisten(channel: string): Promise<void> {
    this.handlers.delete(channel);
    await this.conn.unsubscribe(channel);
  }

  async start(): Promise<void> {
    await this.conn.subscribe(...this.handlers.keys());
  }

  get ready(): boolean {
    return this.conn.status === 'ready';
  }

  /** The connection dropped: messages published from now on until it is back are lost. */
  onLost(listener: () => void): void {
    this.conn.on('close', listener);
  }

  onBack(listener: () => void): void {
    this.conn.on('ready', listener);
  }
}
