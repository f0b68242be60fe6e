// Gives an unowned area to a server: a Lua compare-and-set whose announcement every live node
// acknowledges (CacheBarrier) before the call returns. The owner's link learns of it from the
// announcement itself (area:assign), like every other ownership change.
import type { Logger } from 'winston';
import { ErrorCode } from '../shared/protocol.js';
import type { AuthorityCache } from './authority-cache.js';
import type { AuthorityMap } from './authority-map.js';
import type { CacheBarrier } from './cache-barrier.js';
import { WireError } from './errors.js';
import type { Metrics } from './metrics.js';

export interface OwnershipDeps {
  cache: AuthorityCache;
  map: AuthorityMap;
  barrier: CacheBarrier;
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
    return r.epoch;
  }
}
