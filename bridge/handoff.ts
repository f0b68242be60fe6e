// Handoff of one player to the owner of another area (a warp gate), without the client
// reconnecting: freeze its inputs where it is connected, take its state and last applied seq
// from the source, have the target load it, flip the record (one Lua CAS, epoch + 1, acked by
// every node), then replay the frozen inputs to the target. Any failure before the flip rolls
// back: the source resumes and the frozen inputs go to it. Nothing is lost, nothing is applied twice.
import type { Logger } from 'winston';
import { ErrorCode, ImportReplySchema, PlayerStateSchema, type HandoffResult } from '../shared/protocol.js';
import type { AuthorityMap } from './authority-map.js';
import type { CacheBarrier } from './cache-barrier.js';
import { WireError } from './errors.js';
import type { MeshRpc } from './mesh-rpc.js';
import type { Metrics } from './metrics.js';
import type { Placement } from './placement.js';

export interface HandoffDeps {
  map: AuthorityMap;
  barrier: CacheBarrier;
  rpc: MeshRpc;
  placement: Placement;
  metrics: Metrics;
  logger: Logger;
  ackTimeoutMs: number;
}

export class HandoffCoordinator {
  /** The latest handoffs this node coordinated that failed (rolled back), newest last; the dashboard lists them. */
  readonly failures: { at: number; player: string; area: string; code: string; message: string }[] = [];

  constructor(private readonly d: HandoffDeps) {}

  /** Moves `player` (owned by `source`, or by whoever owns it when source is undefined) to `area`. */
  async handoff(player: string, area: string, source?: string): Promise<HandoffResult> {
    try {
      return { ok: true, ...(await this.run(player, area, source)) };
    } catch (err) {
      const code = err instanceof WireError ? err.code : ErrorCode.Internal;
      this.d.metrics.handoffs.inc({ outcome: 'failed' });
      this.d.logger.warn('handoff failed', { player, area, code, err: (err as Error).message });
      this.failures.push({ at: Date.now(), player, area, code, message: (err as Error).message });
      if (this.failures.length > 20) this.failures.shift();
      return { ok: false, code, message: (err as Error).message };
    }
  }

  private async run(player: string, area: string, source: string | undefined): Promise<{ server: string; area: string; epoch: number }> {
    const { map, rpc, placement } = this.d;
    const rec = (await map.loadPlayers([player])).get(player);
    if (!rec || rec.server === '' || (source !== undefined && rec.server !== source)) {
      throw new WireError(ErrorCode.NotOwner, `player ${player} is not attached to ${source ?? 'any server'}`);
    }
    if (!placement.isArea(area)) throw new WireError(ErrorCode.BadInput, `no area ${area} in this world`);
    const from = rec.server;
    const owner = await placement.ownerOf(area);
    if (!owner) throw new WireError(ErrorCode.NoServer, `no server can load area ${area}`);
    if (owner.server === from) {
      // Same server: only the player's area changes; inputs keep flowing.
      const epoch = await this.flip({ player, expectedEpoch: rec.epoch, area, server: from, currentServer: from, seq: rec.seq });
      return { server: from, area, epoch };
    }
    const located = [{ id: player, node: rec.node }];
    const started = process.hrtime.bigint();
    const token = await rpc.freeze(located, 'transferring');
    let epoch: number;
    try {
      const exported = await rpc.ask(from, 'player:export', { player, area, to: owner.server }, PlayerStateSchema);
      const imported = await rpc.ask(owner.server, 'player:import', { player, area, from, ...exported }, ImportReplySchema);
      if (!imported.ok) throw new WireError(ErrorCode.HandoffFailed, `${owner.server} declined ${player}: ${imported.reason ?? 'no reason given'}`);
      epoch = await this.flip({
        player, expectedEpoch: rec.epoch, area, server: owner.server, currentServer: from, seq: exported.seq, snapshot: exported.snapshot,
      });
    } catch (err) {
      rpc.tell(from, 'player:resume', { player });
      rpc.thaw(located, token);
      throw err;
    }
    rpc.thaw(located, token);
    this.d.metrics.handoffs.inc({ outcome: 'completed' });
    this.d.logger.info('handoff', { player, from, to: owner.server, area, epoch, ms: Number(process.hrtime.bigint() - started) / 1e6 });
    return { server: owner.server, area, epoch };
  }

  private async flip(a: { player: string; expectedEpoch: number; area: string; server: string; currentServer: string; seq: number; snapshot?: unknown }): Promise<number> {
    const { map, barrier } = this.d;
    const id = barrier.newId();
    const acks = barrier.expect(id, await map.liveNodes(), this.d.ackTimeoutMs);
    const r = await map.assignPlayer({ ...a, updateId: id, reason: 'handoff' });
    if (r.outcome !== 'applied') {
      barrier.cancel(id);
      throw new WireError(ErrorCode.StaleEpoch, `player ${a.player} changed during the handoff`);
    }
    await acks;
    this.d.metrics.ownershipChanges.inc({ kind: 'player' });
    return r.epoch;
  }
}
