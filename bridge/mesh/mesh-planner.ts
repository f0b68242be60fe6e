// The mesh's jobs (seed 004): rebalance ("netsplit"), graceful drain and crash recovery. Each
// runs as a control-plane job on whichever node picks it up: it reads the mesh, decides with the
// pure rules of ./planning.ts, asks the servers, and moves areas through the one transfer
// mechanism. Every decision is logged with its reason.
import type { Logger } from 'winston';
import type { BridgeConfig } from '../../shared/config.js';
import type { OfferReply } from '../../shared/protocol.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { AuthorityMap } from '../authority/authority-map.js';
import type { MeshRpc } from '../bus/mesh-rpc.js';
import type { ControlPlane } from './control-plane.js';
import { drainOrder, lowestRatio, overloaded, rankAcceptors, ratio, rebalanceOptions, serverViews, type View } from './planning.js';
import type { Transfers } from './transfer.js';

export interface PlannerDeps {
  config: BridgeConfig;
  cache: AuthorityCache;
  map: AuthorityMap;
  transfers: Transfers;
  rpc: MeshRpc;
  control: ControlPlane;
  logger: Logger;
}

export class MeshPlanner {
  constructor(private readonly d: PlannerDeps) {
    d.control.handle('rebalance', () => this.rebalance());
    d.control.handle('drain', ({ server, epoch }) => this.drain(server, epoch));
    d.control.handle('recover', ({ server, epoch, areas }) => this.recover(server, epoch, areas));
  }

  /**
   * Netsplit: for each server above the threshold, pick the area whose move leaves the lower
   * max(source ratio, taker ratio), the smaller area on a tie (seed 004: "ideally something
   * small"), among moves that keep the taker at or under the threshold. Offer it; among those that
   * accept, priority first, then the lowest ratio takes it. One area per overloaded server per run,
   * and a moved area cools down, so nothing ping-pongs.
   */
  async rebalance(): Promise<void> {
    const { map, logger } = this.d;
    const threshold = this.d.config.rebalanceThreshold;
    const areaLoads = await map.loadAreaLoads();
    const views = this.views(areaLoads).filter((v) => v.server.status === 'ready');
    if (views.length < 2) return;
    for (const source of overloaded(views, threshold)) {
      const owned = this.d.cache.areasOf(source.server.id).map(({ area }) => ({ area, load: areaLoads.get(area) ?? 0 }));
      const cooling = await map.coolingDown(owned.map((a) => a.area));
      for (const { area, load, takers } of rebalanceOptions(source, views, owned, cooling, threshold)) {
        const accepted = await this.offer(takers, { area, load, from: source.server.id, emergency: false });
        if (accepted.length === 0) {
          logger.info('rebalance: area declined by all', { area, from: source.server.id, load, asked: takers.map((t) => t.server.id) });
          continue;
        }
        const [target] = accepted;
        if (!target || !(await map.startCooldown(area, this.d.config.areaCooldownMs))) continue;
        logger.info('rebalance: moving area', {
          area,
          load,
          from: source.server.id,
          fromRatio: ratio(source),
          to: target.view.server.id,
          toRatio: ratio(target.view),
          priority: target.reply.priority === true,
          reason: `ratio ${ratio(source).toFixed(2)} > threshold ${threshold}`,
        });
        await this.d.transfers.moveArea(area, target.view.server.id, 'rebalance');
        source.load -= load;
        target.view.load += load;
        break;
      }
    }
  }

  /**
   * Graceful drain: offer the server's areas, largest first, each to the acceptor that keeps
   * ratios lowest; an area nobody accepts is assigned anyway ("emergency", the target must take
   * it). When the server owns nothing it is deregistered and told `drained`.
   */
  async drain(server: string, epoch: number): Promise<void> {
    const { map, logger, rpc } = this.d;
    if (!(await map.setServerStatus(server, epoch, 'draining'))) return;
    const areaLoads = await map.loadAreaLoads();
    const owned = drainOrder(this.d.cache.areasOf(server).map(({ area }) => ({ area, load: areaLoads.get(area) ?? 0 })));
    logger.info('drain: started', { server, areas: owned.length });
    for (const { area, load } of owned) {
      if (this.d.cache.servers.get(server)?.status !== 'draining') return void logger.info('drain: cancelled', { server, left: area });
      const views = this.views(areaLoads).filter((v) => v.server.status === 'ready' && v.server.id !== server);
      if (views.length === 0) {
        // Nobody can take the rest: the server goes back to serving rather than stay draining forever.
        await map.setServerStatus(server, epoch, 'ready');
        return void logger.warn('drain: abandoned, the server serves again', {
          server,
          reason: `no other ready server can take area ${area}`,
        });
      }
      const accepted = await this.offer(views, { area, load, from: server, emergency: false });
      let target = accepted[0]?.view;
      if (!target) {
        target = lowestRatio(views)!;
        logger.warn('drain: emergency assignment', { area, load, to: target.server.id, reason: 'no server accepted' });
        await this.offer([target], { area, load, from: server, emergency: true });
      }
      await this.d.transfers.moveArea(area, target.server.id, 'drain');
      target.load += load;
    }
    await map.setServerStatus(server, epoch, 'gone');
    rpc.tell(server, 'drained', undefined);
    logger.info('drain: done, server deregistered', { server });
  }

  /** Why `server` cannot be drained now (no other ready server to take its areas), or undefined. */
  cannotDrain(server: string): string | undefined {
    const others = [...this.d.cache.servers.values()].filter((s) => s.status === 'ready' && s.id !== server);
    if (this.d.cache.areasOf(server).length > 0 && others.length === 0) return `no other ready server can take the areas of ${server}`;
    return undefined;
  }

  /**
   * Crash recovery: declare the session `epoch` of the server dead (if its lease really ran out;
   * a session already over, e.g. replaced by a fresh restart, needs no declaring), then move each
   * of its `areas` that is still at the recorded epoch, restored from its last autosave, to the
   * least loaded ready server (a restarted process of the same server included). Throws when no
   * server can take an area, so the job fails and the lease check adds it again later.
   */
  async recover(server: string, epoch: number, areas: Record<string, number>): Promise<void> {
    const { map, logger, cache } = this.d;
    if (!(await map.setServerStatus(server, epoch, 'dead', true))) {
      const rec = await map.serverRecord(server);
      const over = rec !== undefined && (rec.epoch > epoch || rec.status === 'dead' || rec.status === 'gone');
      if (!over) return; // its lease was renewed: alive after all
    }
    const owned = Object.entries(areas)
      .filter(([area, areaEpoch]) => {
        const cur = cache.areas.get(area);
        return cur?.server === server && cur.epoch === areaEpoch;
      })
      .map(([area]) => area);
    if (owned.length === 0) return;
    logger.warn('recovery: server session over', { server, epoch, areas: owned });
    const areaLoads = await map.loadAreaLoads();
    const views = this.views(areaLoads).filter((v) => v.server.status === 'ready');
    const failed: string[] = [];
    await Promise.all(
      owned.map(async (area) => {
        const target = lowestRatio(views);
        if (!target) return void failed.push(area);
        target.load += areaLoads.get(area) ?? 0;
        await this.d.transfers.moveArea(area, target.server.id, 'recover').catch((err: Error) => {
          logger.warn('recovery: area not moved yet', { area, err: err.message });
          failed.push(area);
        });
      }),
    );
    if (failed.length > 0) throw new Error(`recovery of ${server}: no server took ${failed.join(' ')} yet`);
  }

  private views(areaLoads: Map<string, number>): View[] {
    return serverViews(this.d.cache.servers.values(), this.d.cache.areas, areaLoads);
  }

  /** Acceptors of an offer, best first: priority, then lowest ratio after taking it. */
  private async offer(
    views: View[],
    offer: { area: string; load: number; from: string; emergency: boolean },
  ): Promise<{ view: View; reply: OfferReply }[]> {
    const replies = await Promise.all(
      views.map(async (view) => {
        // No answer, or a malformed one, declines.
        const reply = await this.d.rpc.ask(view.server.id, 'area:offer', offer).catch((): OfferReply => ({ accept: false }));
        return { view, reply };
      }),
    );
    return rankAcceptors(replies, offer.load);
  }
}
