// This node's presence in the mesh: a heartbeat in Redis (deadline by Redis' clock, with what it
// serves), which other nodes read to know it is alive. Parts that need a periodic write ride on it.
import type { AuthorityMap, NodeReport } from './authority-map.js';

export class NodePresence {
  private timer: NodeJS.Timeout | undefined;
  private readonly riders: (() => void)[] = [];

  constructor(
    private readonly map: AuthorityMap,
    private readonly intervalMs: number,
    private readonly info: () => Promise<NodeReport>,
  ) {}

  /** Runs `fn` at every heartbeat (after the first). */
  everyBeat(fn: () => void): void {
    this.riders.push(fn);
  }

  /** Beats once (resolves when Redis has it), then every interval. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.beat().catch(() => {});
      for (const fn of this.riders) fn();
    }, this.intervalMs);
  }

  /** Beats at once (after the map was rebuilt: the node is alive in it again without waiting for the interval). */
  beatNow(): void {
    this.beat().catch(() => {});
  }

  /** Stops beating and marks this node's heartbeat as run out, so its sessions are ended after the grace period. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.map.expireNode().catch(() => {});
  }

  private async beat(): Promise<void> {
    await this.map.heartbeat(this.intervalMs * 3, await this.info());
  }
}
