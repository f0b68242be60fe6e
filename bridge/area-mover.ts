// Moves a whole area, with its state and every player in it, to another server: freeze the
// players' inputs, take the state (exported by the live owner, or the last autosave of a dead
// one), have the target load it, flip the area and all its players in one Lua script (acked by
// every node), then replay the frozen inputs to the new owner. Rebalance, drain, crash recovery
// and the admin API all move areas through here.
import type { Logger } from 'winston';
import { AreaExportSchema, ErrorCode, ImportReplySchema, type AreaExport, type PlayerState } from '../shared/protocol.js';
import type { AuthorityCache } from './authority-cache.js';
import type { AuthorityMap } from './authority-map.js';
import type { CacheBarrier } from './cache-barrier.js';
import { WireError } from './errors.js';
import type { MeshRpc } from './mesh-rpc.js';
import type { Metrics } from './metrics.js';

export type MoveReason = 'rebalance' | 'drain' | 'recover' | 'admin';

export interface AreaMoverDeps {
  cache: AuthorityCache;
  map: AuthorityMap;
  barrier: CacheBarrier;
  rpc: MeshRpc;
  metrics: Metrics;
  logger: Logger;
  ackTimeoutMs: number;
  handoffTimeoutMs: number;
}

export class AreaMover {
  constructor(private readonly d: AreaMoverDeps) {}

  async move(area: string, target: string, reason: MoveReason): Promise<number> {
    const { cache, map } = this.d;
    const owner = cache.areas.get(area);
    if (!owner || owner.server === '') throw new WireError(ErrorCode.NoServer, `area ${area} has no owner`);
    // A recovery may give an area back to a restarted process of its owner: restored all the same.
    if (owner.server === target && reason !== 'recover') return owner.epoch;
    const source = owner.server;
    if (!(await map.lockArea(area, this.d.ackTimeoutMs * 4 + this.d.handoffTimeoutMs * 2))) {
      throw new WireError(ErrorCode.StaleEpoch, `area ${area} is already being moved`);
    }
    try {
      return await this.moveLocked(area, source, owner.epoch, target, reason);
    } finally {
      await map.unlockArea(area);
    }
  }

  private async moveLocked(area: string, source: string, areaEpoch: number, target: string, reason: MoveReason): Promise<number> {
    const { map, rpc, barrier, logger } = this.d;
    const started = Date.now();
    const records = await map.playersIn(source, area);
    const located = [...records].map(([id, r]) => ({ id, node: r.node }));
    const token = await rpc.freeze(located, reason === 'recover' ? 'recovering' : 'transferring');
    let epoch: number;
    try {
      const exported: AreaExport = reason === 'recover'
        ? { state: await map.loadAreaState(area), players: Object.fromEntries([...records].map(([id, r]) => [id, { snapshot: r.snapshot ?? null, seq: r.snapSeq ?? r.seq }])) }
        : await rpc.ask(source, 'area:export', { area, to: target }, AreaExportSchema);
      const players = [...records].map(([id, r]) => {
        const st: PlayerState = exported.players[id] ?? { snapshot: r.snapshot ?? null, seq: r.seq };
        return { id, epoch: r.epoch, seq: st.seq, snapshot: st.snapshot };
      });
      const imported = await rpc.ask(target, 'area:import', {
        area, from: source, reason, state: exported.state, players: Object.fromEntries(players.map((p) => [p.id, { snapshot: p.snapshot, seq: p.seq }])),
      }, ImportReplySchema);
      if (!imported.ok) throw new WireError(ErrorCode.HandoffFailed, `${target} declined area ${area}: ${imported.reason ?? 'no reason given'}`);
      const id = barrier.newId();
      const acks = barrier.expect(id, await map.liveNodes(), this.d.ackTimeoutMs);
      const r = await map.migrateArea({ area, expectedEpoch: areaEpoch, source, target, updateId: id, reason, state: exported.state, players });
      if (r.code !== 1) {
        barrier.cancel(id);
        throw new WireError(ErrorCode.StaleEpoch, `area ${area} or one of its players changed during the move (${r.code}/${r.value})`);
      }
      await acks;
      epoch = r.value;
    } catch (err) {
      if (reason !== 'recover') rpc.tell(source, 'area:resume', { area });
      rpc.thaw(located, token);
      this.d.metrics.areaMoves.inc({ reason, outcome: 'failed' });
      throw err;
    }
    rpc.thaw(located, token);
    this.d.metrics.areaMoves.inc({ reason, outcome: 'completed' });
    logger.info('area moved', { area, from: source, to: target, reason, epoch, players: located.length, ms: Date.now() - started });
    return epoch;
  }
}
