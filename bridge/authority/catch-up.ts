// When this node may have missed announcements (its subscriber was away, Redis restarted), it
// fails closed (cache.inSync = false: no input delivered to a link, no server state forwarded),
// re-reads the map, lets each part that keeps state derived from it reconcile (the links), and
// only then serves again; then the parts that must react to a lost stretch of traffic do (clients
// re-send what is unacknowledged).
import type { Logger } from 'winston';
import type { Subscriber } from '../bus/subscriber.js';
import type { AuthorityCache } from './authority-cache.js';
import type { RedisClient } from './redis-connection.js';

export class CatchUp {
  private readonly reconcilers: (() => Promise<void>)[] = [];
  private readonly afterwards: (() => void)[] = [];
  private readonly reconnects: (() => void)[] = [];
  private readonly checks: (() => Promise<void>)[] = [];

  constructor(
    private readonly cache: AuthorityCache,
    private readonly sub: Subscriber,
    redis: RedisClient,
    private readonly logger: Logger,
    private readonly serving: () => boolean,
  ) {
    sub.onLost(() => { cache.inSync = false; });
    // A failed catch-up (Redis still loading, or gone again) is tried again: a node must not stay out of sync.
    const attempt = () => {
      this.run().then(
        () => {
          for (const fn of this.afterwards) fn();
        },
        (err: Error) => {
          logger.warn('cache reload failed; trying again', { err: err.message });
          if (this.serving()) setTimeout(attempt, 250);
        },
      );
    };
    const back = () => {
      // The first connection, while the node starts, is no reconnect.
      if (!this.serving()) return;
      for (const fn of this.reconnects) fn();
      attempt();
    };
    sub.onBack(back);
    redis.on('ready', back);
  }

  /** `fn` makes state derived from the map match it again; awaited before the node serves. */
  onReconcile(fn: () => Promise<void>): void {
    this.reconcilers.push(fn);
  }

  /** `fn` runs once the node serves again after missing traffic. */
  onCaughtUp(fn: () => void): void {
    this.afterwards.push(fn);
  }

  /** `fn` runs as soon as a Redis connection is back (before catching up). */
  onReconnect(fn: () => void): void {
    this.reconnects.push(fn);
  }

  /** `fn` runs before the map is re-read (the map may have lost data: it is rebuilt first). */
  onCheck(fn: () => Promise<void>): void {
    this.checks.push(fn);
  }

  /** Re-reads the map and reconciles; the node is in sync afterwards if its subscriber is up. */
  async run(): Promise<void> {
    this.cache.inSync = false;
    for (const fn of this.checks) await fn();
    await this.cache.reload();
    for (const fn of this.reconcilers) await fn();
    if (this.sub.ready) this.cache.inSync = true;
  }
}
