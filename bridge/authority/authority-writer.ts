// The one write path for ownership: every change of an area's or a player's owner is a `commit`,
// a Lua compare-and-set whose announcement every live node acknowledges (CacheBarrier) before the
// call returns, so that once it returns no node routes by the old owner. The scripts' return
// codes are translated here and nowhere else. This class also answers the barrier's side of the
// protocol: it acknowledges every announcement this node applied.
import type { Logger } from 'winston';
import type { BridgeConfig } from '../../shared/config.js';
import { ErrorCode } from '../../shared/protocol.js';
import type { Keys } from '../../shared/keys.js';
import type { NodeBus } from '../bus/node-bus.js';
import type { Metrics } from '../ops/metrics.js';
import { WireError } from '../relay/wire-error.js';
import type { AuthorityCache } from './authority-cache.js';
import type { AuthorityMap } from './authority-map.js';
import { CacheBarrier } from './cache-barrier.js';
import type { OwnershipScripts } from './lua-scripts.js';

export type MoveReason = 'rebalance' | 'drain' | 'recover' | 'admin';

export type OwnershipChange =
  /** Give an area to a ready server ('' releases it). */
  | { t: 'area'; area: string; expectedEpoch: number; server: string }
  /** Attach a player to the owner of its (new) area, with the last seq that owner applied (and its state). */
  | {
    t: 'player'; player: string; expectedEpoch: number; area: string; server: string; currentServer: string; seq: number;
    snapshot?: unknown; reason: 'join' | 'handoff'; resync?: boolean;
  }
  /** Move an area and every listed player in it to `target` in one step. */
  | {
    t: 'migrate'; area: string; expectedEpoch: number; source: string; target: string; reason: MoveReason; state?: unknown;
    players: { id: string; epoch: number; seq: number; snapshot?: unknown; resync?: boolean }[];
  };

/** Why a commit was not applied: `moving` is worth retrying shortly, the others mean "look again". */
export type RefusalReason = 'stale' | 'not-ready' | 'not-owner' | 'moving';

export class CommitRefused extends WireError {
  constructor(code: ErrorCode, message: string, readonly reason: RefusalReason) {
    super(code, message);
  }
}

/** Every script's refusal codes, by change: the one translation table. */
const REFUSALS: Record<OwnershipChange['t'], Record<number, [RefusalReason, ErrorCode, string]>> = {
  area: {
    0: ['stale', ErrorCode.StaleEpoch, 'the area changed meanwhile'],
    [-1]: ['not-ready', ErrorCode.NoServer, 'the server is not ready'],
  },
  player: {
    0: ['stale', ErrorCode.StaleEpoch, 'the player changed meanwhile'],
    [-1]: ['not-owner', ErrorCode.NotOwner, 'the server does not own the area'],
    [-2]: ['moving', ErrorCode.StaleEpoch, 'the area is being moved'],
  },
  migrate: {
    0: ['stale', ErrorCode.StaleEpoch, 'the area changed meanwhile'],
    [-1]: ['stale', ErrorCode.StaleEpoch, 'one of its players changed meanwhile'],
    [-2]: ['not-ready', ErrorCode.NoServer, 'the target is not ready'],
  },
};

export interface AuthorityWriterDeps {
  config: BridgeConfig;
  keys: Keys;
  scripts: OwnershipScripts;
  map: AuthorityMap;
  cache: AuthorityCache;
  bus: NodeBus;
  metrics: Metrics;
  logger: Logger;
}

export class AuthorityWriter {
  private readonly barrier = new CacheBarrier();

  constructor(private readonly d: AuthorityWriterDeps) {
    const self = d.config.nodeId;
    d.cache.on('applied', (id, from) => {
      if (from === self) this.barrier.ack(id, self);
      else d.bus.send(from, { t: 'ack', id });
    });
    d.bus.on('ack', (m, from) => this.barrier.ack(m.id, from));
  }

  /**
   * Applies the change and returns the new epoch (of the area, or of the player). With `acks`
   * (the default) it returns once every live node applied it, or the ack timeout passed. A join
   * needs none: only the joining node routes the player's inputs, and it waits for its own
   * announcement before the first one. Throws CommitRefused when the compare-and-set fails.
   */
  async commit(change: OwnershipChange, opts: { acks?: boolean } = {}): Promise<number> {
    const id = opts.acks === false ? '' : this.barrier.newId();
    const acks = id === '' ? Promise.resolve([]) : this.barrier.expect(id, await this.d.map.liveNodes(), this.d.config.cacheAckTimeoutMs);
    const [code, epoch] = await this.run(change, id);
    if (code !== 1) {
      this.barrier.cancel(id);
      const [reason, wireCode, why] = REFUSALS[change.t][code] ?? ['stale', ErrorCode.Internal, `unknown reply ${code}`];
      throw new CommitRefused(wireCode, `${describe(change)}: ${why}`, reason);
    }
    const unacked = await acks;
    this.d.metrics.ownershipChanges.inc({ kind: change.t === 'player' ? 'player' : 'area' });
    if (unacked.length > 0) this.d.logger.warn('ownership change not acknowledged by every node', { change: describe(change), unacked });
    return epoch;
  }

  /** Runs the change's script; returns [code, epoch when applied]. */
  private async run(c: OwnershipChange, updateId: string): Promise<[number, number]> {
    const { keys: k, scripts } = this.d;
    const nodeId = this.d.config.nodeId;
    const json = (v: unknown) => (v === undefined ? '' : JSON.stringify(v));
    switch (c.t) {
      case 'area': {
        const [code, , epoch] = (await scripts.areaAssign(
          k.areas, k.server(c.server), c.area, c.expectedEpoch, c.server, k.authorityChannel, updateId, nodeId,
        )) as [number, string, number];
        return [code, epoch];
      }
      case 'player':
        return (await scripts.playerAssign(
          k.player(c.player),
          k.areas,
          k.serverPlayers(c.currentServer),
          k.serverPlayers(c.server),
          k.areaMoving(c.area),
          k.server(c.server),
          c.player,
          c.expectedEpoch,
          c.area,
          c.server,
          c.currentServer,
          c.seq,
          k.authorityChannel,
          updateId,
          nodeId,
          json(c.snapshot),
          c.reason,
          c.resync ? '1' : '',
        )) as [number, number];
      case 'migrate': {
        const keys = [
          k.areas,
          k.serverPlayers(c.source),
          k.serverPlayers(c.target),
          k.server(c.target),
          k.areaState,
          ...c.players.map((p) => k.player(p.id)),
        ];
        const args = [
          c.area, c.expectedEpoch, c.source, c.target, k.authorityChannel, updateId, nodeId, c.reason, json(c.state),
          ...c.players.flatMap((p) => [p.id, p.epoch, p.seq, json(p.snapshot), p.resync ? '1' : '']),
        ];
        return (await scripts.areaMigrate(keys.length, ...keys, ...args)) as [number, number];
      }
    }
  }
}

function describe(c: OwnershipChange): string {
  if (c.t === 'area') return `area ${c.area} to ${c.server || 'nobody'}`;
  if (c.t === 'player') return `player ${c.player} to ${c.server} in ${c.area}`;
  return `area ${c.area} from ${c.source} to ${c.target}`;
}
