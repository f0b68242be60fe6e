// The one transfer mechanism: moves one player (a handoff) or a whole area with its players (area
// move, rebalance, drain, crash recovery, admin) to another server, without a client reconnecting.
// Every transfer runs the same steps: freeze the players' inputs where they are connected, take
// the state (exported by the live owner, or the last autosave of a dead one), have the target load
// it, commit the new owner (AuthorityWriter: one Lua CAS, acked by every node), then thaw: the
// frozen inputs go to the new owner. A failure before the commit rolls back: the source resumes
// and the frozen inputs go to it. Nothing is lost, nothing is applied twice.
import type { Logger } from 'winston';
import type { BridgeConfig } from '../../shared/config.js';
import {
  ChunkRefsSchema, ErrorCode, type AreaExport, type ChunkData, type HandoffResult, type ImportReply, type PlayerState,
} from '../../shared/protocol.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { AuthorityMap } from '../authority/authority-map.js';
import type { AuthorityWriter, MoveReason } from '../authority/authority-writer.js';
import type { Located, MeshRpc, Resyncs } from '../bus/mesh-rpc.js';
import type { Metrics } from '../ops/metrics.js';
import { WireError } from '../relay/wire-error.js';
import type { ChunkStore } from '../sync/chunk-store.js';
import type { Placement } from './placement.js';

export type { MoveReason };

export interface TransferDeps {
  config: BridgeConfig;
  cache: AuthorityCache;
  map: AuthorityMap;
  writer: AuthorityWriter;
  rpc: MeshRpc;
  placement: Placement;
  /** Where the chunks an area's export or autosave refers to are read from. */
  chunks: ChunkStore;
  metrics: Metrics;
  logger: Logger;
}

/** The steps that differ between a player and an area; `transfer` runs them in the one order. */
interface Steps<X> {
  players: Located[];
  status: 'transferring' | 'recovering';
  take: () => Promise<X>;
  load: (taken: X) => Promise<ImportReply>;
  commit: (taken: X) => Promise<number>;
  /** Tells a live source to simulate again after a rollback (a dead one has nothing to resume). */
  resumeSource: (() => void) | undefined;
  what: string;
}

export interface HandoffFailure {
  at: number;
  player: string;
  area: string;
  code: string;
  message: string;
}

export class Transfers {
  /** The latest handoffs this node coordinated that failed (rolled back), newest last; the dashboard lists them. */
  private readonly failures: HandoffFailure[] = [];

  constructor(private readonly d: TransferDeps) {}

  recentFailures(): HandoffFailure[] {
    return [...this.failures];
  }

  /** Hands `player` (owned by `source`, or by whoever owns it when source is undefined) over to the owner of `area`. */
  async movePlayer(player: string, area: string, source?: string): Promise<HandoffResult> {
    try {
      return { ok: true, ...(await this.handoff(player, area, source)) };
    } catch (err) {
      const code = err instanceof WireError ? err.code : ErrorCode.Internal;
      this.d.metrics.handoffs.inc({ outcome: 'failed' });
      this.d.logger.warn('handoff failed', { player, area, code, err: (err as Error).message });
      this.failures.push({ at: Date.now(), player, area, code, message: (err as Error).message });
      if (this.failures.length > 20) this.failures.shift();
      return { ok: false, code, message: (err as Error).message };
    }
  }

  /** Moves `area` and every player in it to `target`; returns the area's new epoch. */
  async moveArea(area: string, target: string, reason: MoveReason): Promise<number> {
    const { cache, map } = this.d;
    const owner = cache.areas.get(area);
    if (!owner || owner.server === '') throw new WireError(ErrorCode.NoServer, `area ${area} has no owner`);
    // A recovery may give an area back to a restarted process of its owner: restored all the same.
    if (owner.server === target && reason !== 'recover') return owner.epoch;
    if (!(await map.lockArea(area, this.d.config.cacheAckTimeoutMs * 4 + this.d.config.handoffTimeoutMs * 2))) {
      throw new WireError(ErrorCode.StaleEpoch, `area ${area} is already being moved`);
    }
    try {
      return await this.areaMove(area, owner.server, owner.epoch, target, reason);
    } catch (err) {
      this.d.metrics.areaMoves.inc({ reason, outcome: 'failed' });
      throw err;
    } finally {
      await map.unlockArea(area);
    }
  }

  private async handoff(
    player: string,
    area: string,
    source: string | undefined,
  ): Promise<{ server: string; area: string; epoch: number }> {
    const { map, rpc, placement, writer } = this.d;
    const rec = (await map.loadPlayers([player])).get(player);
    if (!rec || rec.server === '' || (source !== undefined && rec.server !== source)) {
      throw new WireError(ErrorCode.NotOwner, `player ${player} is not attached to ${source ?? 'any server'}`);
    }
    if (!placement.isArea(area)) throw new WireError(ErrorCode.BadInput, `no area ${area} in this world`);
    const from = rec.server;
    const owner = await placement.ownerOf(area);
    if (!owner) throw new WireError(ErrorCode.NoServer, `no server can load area ${area}`);
    const flip = (server: string, taken: PlayerState & Resyncs) =>
      writer.commit({
        t: 'player',
        player,
        expectedEpoch: rec.epoch,
        area,
        server,
        currentServer: from,
        seq: taken.seq,
        snapshot: taken.snapshot,
        reason: 'handoff',
        resync: taken.resync?.includes(player) === true,
      });
    if (owner.server === from) {
      // Same server: only the player's area changes; inputs keep flowing, and its own state is newer than any save.
      return { server: from, area, epoch: await flip(from, { seq: rec.seq, snapshot: undefined }) };
    }
    const started = process.hrtime.bigint();
    const epoch = await this.transfer<PlayerState & Resyncs>({
      players: [{ id: player, node: rec.node }],
      status: 'transferring',
      take: () => rpc.ask(from, 'player:export', { player, area, to: owner.server }),
      load: (taken) => rpc.ask(owner.server, 'player:import', { player, area, from, seq: taken.seq, snapshot: taken.snapshot }),
      commit: (taken) => flip(owner.server, taken),
      resumeSource: () => rpc.tell(from, 'player:resume', { player }),
      what: `${owner.server} declined ${player}`,
    });
    this.d.metrics.handoffs.inc({ outcome: 'completed' });
    this.d.logger.info('handoff', { player, from, to: owner.server, area, epoch, ms: Number(process.hrtime.bigint() - started) / 1e6 });
    return { server: owner.server, area, epoch };
  }

  private async areaMove(area: string, source: string, areaEpoch: number, target: string, reason: MoveReason): Promise<number> {
    const { map, rpc, writer } = this.d;
    const started = Date.now();
    const records = await map.playersIn(source, area);
    const saved = (id: string): PlayerState => {
      const r = records.get(id)!;
      return { snapshot: r.snapshot ?? null, seq: r.snapSeq ?? r.seq };
    };
    // Each player's state: as exported, else (not in the export, or a dead source) its saved one.
    const recovering = reason === 'recover';
    const playersOf = (taken: AreaExport & Resyncs) => [...records].map(([id, r]) => ({
      id, epoch: r.epoch, ...(taken.players[id] ?? saved(id)), resync: recovering || taken.resync?.includes(id) === true,
    }));
    const epoch = await this.transfer<AreaExport & Resyncs>({
      players: [...records].map(([id, r]) => ({ id, node: r.node })),
      status: recovering ? 'recovering' : 'transferring',
      take: async () =>
        recovering
          ? { state: await map.loadAreaState(area), players: Object.fromEntries([...records.keys()].map((id) => [id, saved(id)])) }
          : rpc.ask(source, 'area:export', { area, to: target }),
      load: async (taken) =>
        rpc.ask(target, 'area:import', {
          area,
          from: source,
          reason,
          state: taken.state,
          players: Object.fromEntries(playersOf(taken).map((p) => [p.id, { snapshot: p.snapshot, seq: p.seq }])),
          ...(await this.referencedChunks(area, taken.state)),
        }),
      commit: (taken) =>
        writer.commit({
          t: 'migrate',
          area,
          expectedEpoch: areaEpoch,
          source,
          target,
          reason,
          state: taken.state,
          players: playersOf(taken),
        }),
      resumeSource: recovering ? undefined : () => rpc.tell(source, 'area:resume', { area }),
      what: `${target} declined area ${area}`,
    });
    this.d.metrics.areaMoves.inc({ reason, outcome: 'completed' });
    this.d.logger.info('area moved', { area, from: source, to: target, reason, epoch, players: records.size, ms: Date.now() - started });
    return epoch;
  }

  /**
   * An export or autosave may refer to chunks (`{ chunks: [{ id, version }] }`) instead of inlining
   * them: the target gets their bytes from the store, in the version stored now (never older).
   */
  private async referencedChunks(area: string, state: unknown): Promise<{ chunks?: ChunkData[] }> {
    const refs = ChunkRefsSchema.safeParse(state);
    if (!refs.success) return {};
    const chunks = await this.d.chunks.read(await this.d.chunks.index(refs.data.chunks.map((r) => r.id)));
    const have = new Map(chunks.map((c) => [c.id, c.version]));
    const behind = refs.data.chunks.filter((r) => (have.get(r.id) ?? 0) < r.version);
    if (behind.length > 0) this.d.logger.warn('area refers to chunks the store lacks', { area, chunks: behind.map((r) => r.id) });
    return { chunks };
  }

  /** Freeze, take, load, commit, thaw; on any failure before the commit: resume the source, thaw, rethrow. */
  private async transfer<X>(s: Steps<X>): Promise<number> {
    const { rpc } = this.d;
    const token = await rpc.freeze(s.players, s.status);
    let epoch: number;
    try {
      const taken = await s.take();
      const loaded = await s.load(taken);
      if (!loaded.ok) throw new WireError(ErrorCode.HandoffFailed, `${s.what}: ${loaded.reason ?? 'no reason given'}`);
      epoch = await s.commit(taken);
    } catch (err) {
      s.resumeSource?.();
      rpc.thaw(s.players, token);
      throw err;
    }
    rpc.thaw(s.players, token);
    return epoch;
  }
}
