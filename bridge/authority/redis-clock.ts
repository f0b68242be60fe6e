// Now by Redis' clock, the one clock every node and script agrees on (leases, heartbeats, node
// ages, chunk times): read from the server that holds the world's keys (./lua/world_time.lua).
import type { Keys } from '../../shared/keys.js';
import type { ClockScripts } from './lua-scripts.js';

export class RedisClock {
  constructor(
    private readonly scripts: ClockScripts,
    private readonly keys: Keys,
  ) {}

  /** Milliseconds since the epoch. */
  async now(): Promise<number> {
    return Number(await this.scripts.worldTime(this.keys.nodes));
  }
}
