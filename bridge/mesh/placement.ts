// Where a joining player goes: the owner of its last known (or the spawn) area; an unowned area
// is first given to the ready server with the lowest load:power ratio (fewest areas breaks ties).
import { createHash } from 'node:crypto';
import type { BridgeConfig } from '../../shared/config.js';
import { isInGrid } from '../../shared/grid.js';
import type { ServerInfo } from '../../shared/protocol.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { AreaOwner, AuthorityMap } from '../authority/authority-map.js';
import { CommitRefused, type AuthorityWriter } from '../authority/authority-writer.js';
import { pickLeastLoaded } from './planning.js';

export class Placement {
  constructor(
    private readonly cache: AuthorityCache,
    private readonly writer: AuthorityWriter,
    private readonly map: AuthorityMap,
    private readonly config: BridgeConfig,
  ) {}

  isArea(area: string): boolean {
    return isInGrid(area, this.config.worldCols, this.config.worldRows);
  }

  /** The player's last known area if it is one of the world's, else its spawn area. */
  areaFor(player: string, lastArea: string): string {
    if (this.isArea(lastArea)) return lastArea;
    const spawns = this.config.spawnAreas.split(' ');
    return spawns[createHash('sha1').update(player).digest().readUInt32BE(0) % spawns.length]!;
  }

  /** The area's owner, assigning it first if nobody owns it. Undefined if no server can take it. */
  async ownerOf(area: string): Promise<AreaOwner | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = this.cache.areas.get(area);
      if (cur && cur.server !== '') return cur;
      const target = await this.leastLoaded(area);
      if (!target) return undefined;
      try {
        const epoch = await this.writer.commit({ t: 'area', area, expectedEpoch: cur?.epoch ?? 0, server: target.id });
        return { server: target.id, epoch };
      } catch (err) {
        // Lost a race with another node, or the target stopped being ready: look again.
        if (!(err instanceof CommitRefused)) throw err;
        await this.cache.reload();
      }
    }
    return undefined;
  }

  /**
   * The ready server with the lowest (load + players assigned since its last report) : power, then
   * the fewest areas. Ties go to the server that ranks highest for this area by rendezvous hashing:
   * nodes placing areas at the same moment spread them over the servers and agree per area.
   */
  async leastLoaded(area: string): Promise<ServerInfo | undefined> {
    const ready = [...this.cache.servers.values()].filter((s) => s.status === 'ready');
    if (ready.length === 0) return undefined;
    const pending = await this.map.pendingPlayers(ready.map((s) => s.id));
    const areaCount = new Map<string, number>();
    for (const o of this.cache.areas.values()) areaCount.set(o.server, (areaCount.get(o.server) ?? 0) + 1);
    return pickLeastLoaded(area, ready.map((s) => ({ server: s, pending: pending.get(s.id) ?? 0, areas: areaCount.get(s.id) ?? 0 })));
  }
}
