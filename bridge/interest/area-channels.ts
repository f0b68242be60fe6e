// Area state travels on one channel per area. The node holding the owner's link publishes each
// area's items once per event-loop turn; a node listens to an area's channel only while someone
// here is interested in it (its clients, its linked servers' ghosts, a dashboard), counted per
// holder: the first interest subscribes, the last release unsubscribes. A node with no interest
// in an area receives none of its state.
import type { Logger } from 'winston';
import type { Keys } from '../../shared/keys.js';
import type { StateItem } from '../../shared/protocol.js';
import type { RedisClient } from '../authority/redis-connection.js';
import type { Subscriber } from '../bus/subscriber.js';
import type { Metrics } from '../ops/metrics.js';

export type AreaItem = Extract<StateItem, { kind: 'area' }>;
/** Told of every item of an area this node is interested in (local pushes and other nodes'). */
export type AreaConsumer = (items: AreaItem[]) => void;

interface Batch {
  from: string;
  items: AreaItem[];
}

export class AreaChannels {
  /** Interest per area: holder -> count. */
  private readonly holders = new Map<string, Map<string, number>>();
  private readonly consumers: AreaConsumer[] = [];
  private readonly queues = new Map<string, AreaItem[]>();
  private scheduled = false;
  /** Areas whose state reached this node from another (tests and the dashboard read it). */
  readonly heard = new Set<string>();

  constructor(
    private readonly nodeId: string,
    private readonly keys: Keys,
    private readonly pub: RedisClient,
    private readonly sub: Subscriber,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /** Registers a consumer of area state (the state router for clients, ghosts for servers). */
  consume(fn: AreaConsumer): void {
    this.consumers.push(fn);
  }

  /** `holder` is interested in `area` (counted: acquire twice, release twice). */
  acquire(area: string, holder: string): void {
    let h = this.holders.get(area);
    if (!h) {
      h = new Map();
      this.holders.set(area, h);
      this.metrics.areaSubscriptions.set(this.holders.size);
      this.sub.listen(this.keys.areaChannel(area), (raw) => this.receive(area, raw))
        .catch((err: Error) => this.logger.warn('area subscribe failed', { area, err: err.message }));
    }
    h.set(holder, (h.get(holder) ?? 0) + 1);
  }

  release(area: string, holder: string): void {
    const h = this.holders.get(area);
    const n = h?.get(holder);
    if (!h || n === undefined) return;
    if (n > 1) h.set(holder, n - 1);
    else h.delete(holder);
    if (h.size > 0) return;
    this.holders.delete(area);
    this.metrics.areaSubscriptions.set(this.holders.size);
    this.sub
      .unlisten(this.keys.areaChannel(area))
      .catch((err: Error) => this.logger.warn('area unsubscribe failed', { area, err: err.message }));
  }

  interested(area: string): boolean {
    return this.holders.has(area);
  }

  /** Areas with at least one interest here. */
  areas(): string[] {
    return [...this.holders.keys()];
  }

  /** An item pushed by a server linked here: to interested consumers here at once, to other nodes once per turn. */
  publish(item: AreaItem): void {
    if (this.holders.has(item.area)) this.deliver([item]);
    const q = this.queues.get(item.area);
    if (q) q.push(item);
    else this.queues.set(item.area, [item]);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    for (const [area, items] of this.queues) {
      const payload = JSON.stringify({ from: this.nodeId, items } satisfies Batch);
      this.metrics.areaBatchesPublished.inc();
      this.metrics.areaBytesPublished.inc(Buffer.byteLength(payload));
      this.pub.spublish(this.keys.areaChannel(area), payload).catch(() => {});
    }
    this.queues.clear();
  }

  private receive(area: string, raw: string): void {
    const batch = JSON.parse(raw) as Batch;
    if (batch.from === this.nodeId) return; // delivered here when published
    this.metrics.areaBatchesReceived.inc();
    this.metrics.areaBytesReceived.inc(Buffer.byteLength(raw));
    this.heard.add(area);
    if (!this.holders.has(area)) return void this.metrics.areaBatchesUnwanted.inc();
    this.deliver(batch.items);
  }

  private deliver(items: AreaItem[]): void {
    for (const fn of this.consumers) fn(items);
  }
}
