// Ownership changes that must be visible mesh-wide before they count as done: each one is a Lua
// compare-and-set whose announcement every live node acknowledges (CacheBarrier), so once a call
// returns no node routes by the old owner.
import type { Logger } from 'winston';
import { ErrorCode } from '../shared/protocol.js';
import type { AuthorityCache } from './authority-cache.js';
import type { AuthorityMap } from './authority-map.js';
import type { CacheBarrier } from './cache-barrier.js';
import { WireError } from './errors.js';
import type { Metrics } from './metrics.js';
import type { NodeBus } from './node-bus.js';

export interface OwnershipDeps {
  nodeId: string;
  cache: AuthorityCache;
  map: AuthorityMap;
  barrier: CacheBarrier;
  bus: NodeBus;
  metrics: Metrics;
  logger: Logger;
  ackTimeoutMs: number;
}

export class OwnershipCoordinator {
  constructor(private readonly d: OwnershipDeps) {}

  /** Gives an area to a server (or '' to release it); returns the new epoch. */
  async assignArea(area: string, server: string): Promise<number> {
    const { cache, map, barrier, metrics, logger } = this.d;
    const cur = cache.areas.get(area) ?? { server: '', epoch: 0 };
    const id = barrier.newId();
    const acks = barrier.expect(id, await map.liveNodes(), this.d.ackTimeoutMs);
    const r = await map.assignArea(area, cur.epoch, server, id);
    if (r.outcome !== 'applied') {
      barrier.cancel(id);
      if (r.outcome === 'refused') throw new WireError(ErrorCode.NoServer, `server ${server} is not ready`);
      throw new WireError(ErrorCode.StaleEpoch, `area ${area} changed meanwhile (now ${r.server || 'unowned'} at epoch ${r.epoch})`);
    }
    const missing = await acks;
    metrics.ownershipChanges.inc({ kind: 'area' });
    logger.info('area assigned', { area, from: cur.server, to: server, epoch: r.epoch, unacked: missing });
    if (cur.server) this.emitTo(cur.server, 'area:release', { area, epoch: r.epoch });
    if (server) this.emitTo(server, 'area:assign', { area, epoch: r.epoch });
    return r.epoch;
  }

  /**
   * Moves a player to the owner of `area`: detach at the current server (which yields the last
   * input seq it applied), flip the record, attach at the new owner with that seq. Inputs that
   * reach the old server after the detach are dropped there and re-sent by the client SDK.
   */
  async movePlayer(player: string, area: string): Promise<number> {
    const { cache, map, barrier, metrics, logger } = this.d;
    const owner = cache.areas.get(area);
    if (!owner || owner.server === '') throw new WireError(ErrorCode.NoServer, `area ${area} has no owner`);
    const rec = (await map.loadPlayers([player])).get(player);
    if (!rec || rec.session === '') throw new WireError(ErrorCode.ForbiddenPlayer, `player ${player} is not connected`);
    const lastSeq = rec.server ? await this.detach(rec.server, player) : undefined;
    const seq = Math.max(lastSeq ?? 0, rec.seq);
    const id = barrier.newId();
    const acks = barrier.expect(id, await map.liveNodes(), this.d.ackTimeoutMs);
    const r = await map.assignPlayer({ player, expectedEpoch: rec.epoch, area, server: owner.server, currentServer: rec.server, seq, updateId: id });
    if (r.outcome !== 'applied') {
      barrier.cancel(id);
      throw new WireError(ErrorCode.StaleEpoch, `player ${player} changed meanwhile`);
    }
    const missing = await acks;
    metrics.ownershipChanges.inc({ kind: 'player' });
    logger.info('player moved', { player, from: rec.server, to: owner.server, area, epoch: r.epoch, seq, unacked: missing });
    const node = cache.servers.get(owner.server)?.node;
    if (node) this.d.bus.send(node, { t: 'attach', s: owner.server, player, area, epoch: r.epoch, seq });
    return r.epoch;
  }

  /** Detaches a player at whichever node links its server; the last seq delivered, if known. */
  private async detach(server: string, player: string): Promise<number | undefined> {
    const node = this.d.cache.servers.get(server)?.node;
    if (!node) return undefined;
    const answer = (await this.d.bus.request(node, { op: 'detach', s: server, player }, this.d.ackTimeoutMs).catch(() => null)) as { seq: number | null } | null;
    return answer?.seq ?? undefined;
  }

  private emitTo(server: string, e: 'area:assign' | 'area:release', p: { area: string; epoch: number }): void {
    const node = this.d.cache.servers.get(server)?.node;
    if (node) this.d.bus.send(node, { t: 'emit', s: server, e, p });
  }
}
