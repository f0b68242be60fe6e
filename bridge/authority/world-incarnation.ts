// Who notices that Redis lost the world's data, and rebuilds the map from the live parties. Redis
// can lose it while running (FLUSHALL), by restarting without persistence, by coming back from an
// older snapshot, or when a failover promotes a replica that had not caught up. The world's
// incarnation marker says which map a node serves: it vanishes or changes with the first three, and
// its `rev`, counted up at every heartbeat, goes back with the last two. A node that sees it (at a
// heartbeat, on reconnecting, or when a guarded script refuses) starts the next incarnation, or
// joins the one another node started, and writes back what it holds live: its servers' links (with
// their areas and players) and its client sessions. Meanwhile the guarded scripts refuse
// (NOT_READY: clients and servers retry), so nothing new contradicts what is restored. Epochs
// issued afterwards are above every earlier one (world_guard.lua's next_epoch): fencing never goes
// backwards. What only Redis held (autosaves, chunks, chat) is gone: docs/operations.md.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'winston';
import type { Keys } from '../../shared/keys.js';
import type { WorldGuard, WorldScripts } from './lua-scripts.js';

/** A server linked to this node, as world_restore writes it back. */
export interface LiveServer {
  id: string;
  epoch: number;
  power: number;
  status: 'syncing' | 'ready' | 'draining';
  load: number;
  areas: [area: string, epoch: number][];
  players: [player: string, area: string, epoch: number, seq: number][];
}

/** A client session this node holds. */
export type LiveSession = [player: string, session: string, gen: number];

export interface WorldIncarnationDeps {
  scripts: WorldScripts;
  keys: Keys;
  nodeId: string;
  serverLeaseMs: number;
  /** How long guarded scripts refuse after a new incarnation starts, for every live node to restore. */
  restoreMs: number;
  logger: Logger;
}

export class WorldIncarnation implements WorldGuard {
  readonly markerKey: string;
  private id = '';
  private n = 0;
  /** The marker's rev at this node's last look: the next must be above it, or an older snapshot came back. */
  private lastRev = 0;
  private checking: Promise<void> | undefined;
  private readonly servers: (() => LiveServer[])[] = [];
  private readonly sessions: (() => LiveSession[])[] = [];
  private readonly rebuiltHooks: ((started: boolean, restoredAt: number) => void)[] = [];

  constructor(private readonly d: WorldIncarnationDeps) {
    this.markerKey = d.keys.incarnation;
  }

  /** The incarnation this node serves: the last argument of every guarded script. */
  get incarnation(): string {
    return this.id;
  }

  /** Its number: 1 for a world that never lost its map, one more at every rebuild. */
  get number(): number {
    return this.n;
  }

  /** Where the links' and the sessions' live state comes from (each part gives its own). */
  restoreServersFrom(fn: () => LiveServer[]): void {
    this.servers.push(fn);
  }

  restoreSessionsFrom(fn: () => LiveSession[]): void {
    this.sessions.push(fn);
  }

  /**
   * `fn` runs after this node restored into a new incarnation (`started`: this node began it); `restoredAt`
   * (performance.now()) is when the restore, which gave its servers a full lease, was sent.
   */
  onRebuilt(fn: (started: boolean, restoredAt: number) => void): void {
    this.rebuiltHooks.push(fn);
  }

  /** At start: adopts the marker, or creates one in a world that has none. */
  async start(): Promise<void> {
    const [id, n, rev] = await this.mark('');
    [this.id, this.n, this.lastRev] = [id, n, rev];
  }

  /** A guarded script found the map lost: look now (not at the next heartbeat). */
  lost(reason: string): void {
    this.d.logger.warn('world map lost', { reason });
    this.checkSoon();
  }

  /** Looks without waiting for the outcome (a heartbeat, another node's notice); failures are logged. */
  checkSoon(): void {
    this.check().catch((err: Error) => this.d.logger.warn('world check failed', { err: err.message }));
  }

  /** Looks at the marker; when the map was lost, rebuilds before it resolves. One look at a time. */
  check(): Promise<void> {
    this.checking ??= this.look().finally(() => { this.checking = undefined; });
    return this.checking;
  }

  private async look(): Promise<void> {
    if (this.id === '') return this.start();
    const [id, , rev] = await this.mark(this.id);
    if (id === this.id && rev > this.lastRev) {
      this.lastRev = rev;
      return;
    }
    const why = id === '' ? 'no marker (flushed, or restarted empty)'
      : id !== this.id ? 'another incarnation' : `rev ${rev} not above ${this.lastRev} (an older snapshot)`;
    await this.rebuild(why);
  }

  private async rebuild(why: string): Promise<void> {
    const started = Date.now();
    const [id, n, created] = (await this.d.scripts.worldRebuild(this.markerKey, this.id, this.n, randomUUID(), this.d.restoreMs)) as [
      string, number, number,
    ];
    [this.id, this.n, this.lastRev] = [id, Number(n), 0];
    const servers = this.servers.flatMap((fn) => fn());
    const sessions = this.sessions.flatMap((fn) => fn());
    const k = this.d.keys;
    const keys = [
      this.markerKey, k.areas, k.servers, k.leases, k.nodePlayers(this.d.nodeId),
      ...servers.flatMap((s) => [k.server(s.id), k.serverPlayers(s.id), ...s.players.map(([p]) => k.player(p))]),
      ...sessions.map(([p]) => k.player(p)),
    ];
    const restoredAt = performance.now();
    const restored = await this.d.scripts.worldRestore(
      keys.length, ...keys, id, this.d.nodeId, this.d.serverLeaseMs, k.authorityChannel, JSON.stringify({ servers, sessions }),
    );
    // Another node started an even later incarnation meanwhile: restore into that one.
    if (Number(restored) !== 1) return this.look();
    this.d.logger.warn('world map rebuilt from the live parties', {
      why, incarnation: this.n, started: created === 1, servers: servers.length, sessions: sessions.length, ms: Date.now() - started,
    });
    for (const fn of this.rebuiltHooks) fn(created === 1, restoredAt);
    // Whoever waits for this look (a reconnect, before it re-reads the map) waits for the others' restores too.
    await new Promise((resolve) => setTimeout(resolve, this.d.restoreMs));
  }

  private async mark(id: string): Promise<[string, number, number]> {
    const [got, n, rev] = (await this.d.scripts.worldMark(this.markerKey, id, randomUUID())) as [string, number, number];
    return [got, Number(n), Number(rev)];
  }
}
