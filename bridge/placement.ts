// Where a joining player goes: the owner of its last known (or the spawn) area; an unowned area
// is first given to the ready server with the lowest load:power ratio (fewest areas breaks ties).
import { createHash } from 'node:crypto';
import type { ServerInfo } from '../shared/protocol.js';
import type { AuthorityCache } from './authority-cache.js';
import type { AreaOwner, AuthorityMap } from './authority-map.js';
import { WireError } from './errors.js';
import type { OwnershipCoordinator } from './ownership.js';

export class Placement {
  constructor(
    private readonly cache: AuthorityCache,
    private readonly ownership: OwnershipCoordinator,
    private readonly map: AuthorityMap,
    private readonly world: { cols: number; rows: number; spawnAreas: string[] },
  ) {}

  isArea(area: string): boolean {
    const m = /^(\d+),(\d+)$/.exec(area);
    return m !== null && Number(m[1]) < this.world.cols && Number(m[2]) < this.world.rows;
  }

  /** The player's last known area if it is one of the world's, else its spawn area. */
  areaFor(player: string, lastArea: string): string {
    if (this.isArea(lastArea)) return lastArea;
    const spawns = this.world.spawnAreas;
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
        return { server: target.id, epoch: await this.ownership.assignArea(area, target.id) };
      } catch (err) {
        // Lost a race with another node, or the target stopped being ready: look again.
        if (!(err instanceof WireError)) throw err;
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
    let best: ServerInfo | undefined;
    let bestKey: [number, number, number] | undefined;
    for (const s of ready) {
      const key: [number, number, number] = [(s.load + (pending.get(s.id) ?? 0)) / s.power, areaCount.get(s.id) ?? 0, -rank(area, s.id)];
      if (!bestKey || (key[0] - bestKey[0] || key[1] - bestKey[1] || key[2] - bestKey[2]) < 0) {
        best = s;
        bestKey = key;
      }
    }
    return best;
  }
}

const rank = (area: string, server: string): number => createHash('sha1').update(`${area}|${server}`).digest().readUInt32BE(0);
