// Each node's in-memory copy of the authority map, so routing never waits on Redis. It is filled
// from Redis at start (and after a subscriber reconnect) and kept current by the updates the Lua
// scripts publish; epochs make applying an update idempotent and order-safe.
import { EventEmitter } from 'node:events';
import type { ServerInfo, ServerStatus } from '../../shared/protocol.js';
import type { AreaOwner, AuthorityMap, PlayerRecord } from './authority-map.js';

export type AuthorityUpdate =
  | { t: 'area'; area: string; server: string; epoch: number; prev: string; id: string; from: string }
  | {
    t: 'player'; player: string; server: string; area: string; epoch: number; node: string; seq?: number;
    snapshot?: unknown; reason?: 'join' | 'handoff' | 'rebalance' | 'drain' | 'recover' | 'admin'; id: string; from: string;
    /** The new owner gets the player at its saved seq and may see a jump past it (a crash lost what came after). */
    resync?: boolean;
  }
  /** Marks the end of a multi-change script; acknowledged like an update. */
  | { t: 'mark'; id: string; from: string }
  | { t: 'session'; player: string; node: string; session: string; gen: number }
  | { t: 'server'; id: string; node: string; power: number; load: number; status: ServerStatus; epoch: number };

export interface CachedPlayer {
  server: string;
  area: string;
  epoch: number;
  node: string;
  session: string;
}

interface CacheEvents {
  area: [area: string, owner: AreaOwner, prev: string];
  /** `change` is the update itself when the player moved (absent when filled from Redis). */
  player: [player: string, rec: CachedPlayer, prev: CachedPlayer | undefined, change?: Extract<AuthorityUpdate, { t: 'player' }>];
  session: [player: string, node: string, session: string, gen: number];
  server: [info: ServerInfo, prev: ServerInfo | undefined];
  /** An update that asked for acknowledgement has been applied (or found already superseded). */
  applied: [id: string, from: string];
}

export class AuthorityCache extends EventEmitter<CacheEvents> {
  readonly areas = new Map<string, AreaOwner>();
  readonly servers = new Map<string, ServerInfo>();
  readonly players = new Map<string, CachedPlayer>();
  /**
   * False while this node may be missing changes (its subscriber is away, or the map is being
   * re-read after it came back). The node then fails closed: it delivers no input to a link and
   * forwards no server state, so it never acts for an owner that was replaced meanwhile.
   */
  inSync = false;

  constructor(private readonly map: AuthorityMap) {
    super();
  }

  /** Replaces areas and servers with what Redis holds, and refreshes the players it knows. */
  async reload(): Promise<void> {
    const [areas, servers, players] = await Promise.all([
      this.map.loadAreas(), this.map.loadServers(), this.map.loadPlayers([...this.players.keys()]),
    ]);
    for (const [area, owner] of areas) this.applyArea(area, owner, '');
    for (const s of servers) this.applyServer(s);
    for (const [id, rec] of players) this.rememberPlayer(id, rec);
  }

  /**
   * Stores a record read from Redis, unless the cache already holds a newer one. Never use it for
   * a change this node just made: the change's announcement must arrive as newer, or links miss it.
   */
  rememberPlayer(id: string, rec: PlayerRecord): CachedPlayer {
    const cur = this.players.get(id);
    if (cur && cur.epoch > rec.epoch) return cur;
    const next = { server: rec.server, area: rec.area, epoch: rec.epoch, node: rec.node, session: rec.session };
    this.players.set(id, next);
    if (!cur || cur.epoch < next.epoch) this.emit('player', id, next, cur);
    return next;
  }

  apply(raw: string): void {
    const u = JSON.parse(raw) as AuthorityUpdate;
    switch (u.t) {
      case 'area':
        this.applyArea(u.area, { server: u.server, epoch: u.epoch }, u.prev);
        break;
      case 'player': {
        const cur = this.players.get(u.player);
        if (!cur || cur.epoch < u.epoch) {
          const next = { server: u.server, area: u.area, epoch: u.epoch, node: u.node, session: cur?.session ?? '' };
          this.players.set(u.player, next);
          this.emit('player', u.player, next, cur, u);
        }
        break;
      }
      case 'session': {
        const cur = this.players.get(u.player);
        if (cur) {
          cur.node = u.node;
          cur.session = u.session;
        }
        this.emit('session', u.player, u.node, u.session, u.gen);
        break;
      }
      case 'server':
        this.applyServer({ id: u.id, node: u.node, power: u.power, load: u.load, status: u.status, epoch: u.epoch });
        break;
      case 'mark':
        break;
    }
    if ('id' in u && u.id !== '' && u.t !== 'server') this.emit('applied', u.id, u.from);
  }

  private applyArea(area: string, owner: AreaOwner, prev: string): void {
    const cur = this.areas.get(area);
    if (cur && cur.epoch >= owner.epoch) return;
    if (owner.server === '') this.areas.set(area, { server: '', epoch: owner.epoch });
    else this.areas.set(area, owner);
    this.emit('area', area, owner, cur?.server ?? prev);
  }

  private applyServer(info: ServerInfo): void {
    const cur = this.servers.get(info.id);
    if (cur && cur.epoch > info.epoch) return;
    this.servers.set(info.id, info);
    this.emit('server', info, cur);
  }

  /** Areas owned by a server, with their epochs. */
  areasOf(server: string): { area: string; epoch: number }[] {
    const out: { area: string; epoch: number }[] = [];
    for (const [area, o] of this.areas) if (o.server === server) out.push({ area, epoch: o.epoch });
    return out;
  }
}
