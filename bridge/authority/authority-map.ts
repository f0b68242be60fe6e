// The authority map in Redis: who owns which area and player, under which epoch, and the records
// around it (sessions, servers and their leases, autosaves, node liveness). It reads the map and
// keeps those records; ownership itself changes only through the AuthorityWriter.
import type { Keys } from '../../shared/keys.js';
import type { ServerInfo, ServerStatus } from '../../shared/protocol.js';
import type { RecordScripts } from './lua-scripts.js';
import type { RedisClock } from './redis-clock.js';
import type { RedisClient, RedisDeployment } from './redis-connection.js';

export interface AreaOwner {
  server: string;
  epoch: number;
}
export interface PlayerRecord {
  server: string;
  area: string;
  epoch: number;
  seq: number;
  node: string;
  session: string;
  /** Last saved or exported state, and the input seq it includes. */
  snapshot?: unknown;
  snapSeq?: number;
}

/** What a node reports with each heartbeat: its connections, and its running totals (the dashboard sums them mesh-wide). */
export interface NodeReport {
  clients: number;
  servers: number;
  totals: Record<string, number>;
}

export class AuthorityMap {
  constructor(
    private readonly redis: RedisClient,
    private readonly scripts: RecordScripts,
    private readonly keys: Keys,
    private readonly nodeId: string,
    private readonly clock: RedisClock,
    private readonly deployment: RedisDeployment,
  ) {}

  /** Binds a session to the player; returns the record as it was before, and the join generation. */
  async joinPlayer(player: string, session: string): Promise<{ before: PlayerRecord; gen: number }> {
    const r = (await this.scripts.playerJoin(
      this.keys.player(player),
      this.keys.nodePlayers(this.nodeId),
      player,
      this.nodeId,
      session,
      this.keys.authorityChannel,
    )) as (string | number | null)[];
    const str = (v: string | number | null | undefined) => (v === null || v === undefined ? '' : String(v));
    return {
      before: { server: str(r[0]), area: str(r[1]), epoch: Number(r[2] ?? 0), seq: Number(r[3] ?? 0), node: str(r[4]), session: str(r[5]) },
      gen: Number(r[6]),
    };
  }

  async setServerStatus(
    id: string,
    epoch: number,
    status: 'draining' | 'dead' | 'gone' | 'ready' | 'synced',
    onlyIfLeaseExpired = false,
  ): Promise<boolean> {
    const k = this.keys;
    return (
      (await this.scripts.serverStatus(
        k.server(id),
        k.leases,
        k.servers,
        id,
        epoch,
        status,
        k.authorityChannel,
        onlyIfLeaseExpired ? '1' : '0',
      )) === 1
    );
  }

  /**
   * Stores a server's autosave, for what it still owns (nothing once it is dead or gone). Returns how many
   * entries were stored, and per player whose autosave was stored the seq it covers.
   */
  async storeSnapshot(
    server: string,
    areas: Record<string, unknown>,
    players: Record<string, { snapshot: unknown; seq: number }>,
  ): Promise<{ stored: number; saved: Record<string, number> }> {
    const k = this.keys;
    const areaEntries = Object.entries(areas);
    const playerEntries = Object.entries(players);
    const keys = [k.areas, k.areaState, k.server(server), ...playerEntries.map(([id]) => k.player(id))];
    const args = [
      server,
      areaEntries.length,
      ...areaEntries.flatMap(([a, st]) => [a, JSON.stringify(st)]),
      ...playerEntries.flatMap(([, p]) => [JSON.stringify(p.snapshot), p.seq]),
    ];
    const [stored, ...flags] = (await this.scripts.snapshotStore(keys.length, ...keys, ...args)) as number[];
    const saved: Record<string, number> = {};
    playerEntries.forEach(([id, p], i) => { if (flags[i] === 1) saved[id] = p.seq; });
    return { stored: stored ?? 0, saved };
  }

  async loadAreaState(area: string): Promise<unknown> {
    const raw = await this.redis.hget(this.keys.areaState, area);
    return raw === null ? undefined : JSON.parse(raw);
  }

  async loadAreaLoads(): Promise<Map<string, number>> {
    const raw = await this.redis.hgetall(this.keys.areaLoad);
    return new Map(Object.entries(raw).map(([a, v]) => [a, Number(v)]));
  }

  /** Players of `server` that are in `area`, with their records. */
  async playersIn(server: string, area: string): Promise<Map<string, PlayerRecord>> {
    const all = await this.loadPlayers(await this.serverPlayers(server));
    for (const [id, rec] of all) if (rec.server !== server || rec.area !== area) all.delete(id);
    return all;
  }

  /** Marks the area as moving (no joins into it) for at most `ms`; false if it already is. */
  async lockArea(area: string, ms: number): Promise<boolean> {
    return (await this.redis.set(this.keys.areaMoving(area), this.nodeId, 'PX', ms, 'NX')) === 'OK';
  }

  async unlockArea(area: string): Promise<void> {
    await this.redis.del(this.keys.areaMoving(area));
  }

  /** Starts the area's cooldown; false if it is still cooling down. */
  async startCooldown(area: string, ms: number): Promise<boolean> {
    if (ms === 0) return true;
    return (await this.redis.set(this.keys.areaCooldown(area), '1', 'PX', ms, 'NX')) === 'OK';
  }

  async coolingDown(areas: string[]): Promise<Set<string>> {
    if (areas.length === 0) return new Set();
    const vals = await this.redis.mget(...areas.map((a) => this.keys.areaCooldown(a)));
    return new Set(areas.filter((_, i) => vals[i] !== null));
  }

  /** Servers whose lease deadline has passed, by Redis' clock. */
  async expiredLeases(): Promise<{ id: string; epoch: number }[]> {
    const now = await this.clock.now();
    const ids = await this.redis.zrangebyscore(this.keys.leases, '-inf', String(now));
    const out: { id: string; epoch: number }[] = [];
    for (const id of ids) out.push({ id, epoch: Number(await this.redis.hget(this.keys.server(id), 'epoch')) });
    return out;
  }

  async serverRecord(id: string): Promise<{ status: ServerStatus; epoch: number } | undefined> {
    const h = await this.redis.hgetall(this.keys.server(id));
    return h.epoch === undefined ? undefined : { status: (h.status ?? 'disconnected') as ServerStatus, epoch: Number(h.epoch) };
  }

  /** Ends `session` (opened on `node`); a no-op unless that session still holds the player. */
  async leavePlayer(player: string, session: string, node: string, server: string, seq: number | undefined): Promise<boolean> {
    const k = this.keys;
    const code = (await this.scripts.playerLeave(
      k.player(player),
      k.serverPlayers(server),
      k.nodePlayers(node),
      player,
      session,
      server,
      seq ?? '',
      k.authorityChannel,
    )) as number;
    return code === 1;
  }

  /** Nodes whose heartbeat deadline passed more than `graceMs` ago (by Redis' clock). */
  async deadNodes(graceMs: number): Promise<string[]> {
    const now = await this.clock.now();
    return this.redis.zrangebyscore(this.keys.nodes, '-inf', String(now - graceMs));
  }

  /** The sessions a node opened that are still its own. */
  async sessionsOf(node: string): Promise<Map<string, PlayerRecord>> {
    const recs = await this.loadPlayers(await this.redis.smembers(this.keys.nodePlayers(node)));
    for (const [id, r] of recs) if (r.node !== node || r.session === '') recs.delete(id);
    return recs;
  }

  async forgetNode(node: string): Promise<void> {
    const k = this.keys;
    await this.redis.multi().zrem(k.nodes, node).zrem(k.nodesByAge, node).del(k.nodePlayers(node)).hdel(k.nodeInfo, node).exec();
  }

  /** Marks this node's heartbeat as already run out, so its sessions are ended after the grace period. */
  async expireNode(): Promise<void> {
    await this.redis.zadd(this.keys.nodes, String(await this.clock.now()), this.nodeId);
  }

  /**
   * A new session of the server, `syncing` (a fresh process) or `ready` (a reconnect); returns its
   * epoch and the status the server had before ('' if new).
   */
  async registerServer(
    id: string, power: number, leaseMs: number, status: 'syncing' | 'ready',
  ): Promise<{ epoch: number; before: string; status: 'syncing' | 'ready' }> {
    const k = this.keys;
    const [epoch, before, now] = (await this.scripts.serverRegister(
      k.server(id),
      k.servers,
      k.leases,
      id,
      this.nodeId,
      power,
      leaseMs,
      k.authorityChannel,
      status,
    )) as [number, string, 'syncing' | 'ready'];
    return { epoch: Number(epoch), before, status: now };
  }

  /** Players assigned to each server since its last load report (reports lag; placement adds them). */
  async pendingPlayers(servers: string[]): Promise<Map<string, number>> {
    const pipe = this.redis.pipeline();
    for (const s of servers) pipe.hget(this.keys.server(s), 'pending');
    const rows = (await pipe.exec()) ?? [];
    return new Map(servers.map((s, i) => [s, Number(rows[i]?.[1] ?? 0)]));
  }

  /** Records the last seq delivered per player on the server's link (replacing what was recorded). */
  async storeDelivered(server: string, cursors: Record<string, number>): Promise<void> {
    const key = this.keys.serverDelivered(server);
    const entries = Object.entries(cursors);
    const tx = this.redis.multi().del(key);
    if (entries.length > 0) tx.hset(key, Object.fromEntries(entries));
    await tx.exec();
  }

  /** The last seqs recorded as delivered to the server, for these players. */
  async deliveredTo(server: string, players: string[]): Promise<Map<string, number>> {
    if (players.length === 0) return new Map();
    const vals = await this.redis.hmget(this.keys.serverDelivered(server), ...players);
    return new Map(players.flatMap((p, i) => (vals[i] === null ? [] : [[p, Number(vals[i])] as [string, number]])));
  }

  async reportLoad(
    id: string,
    epoch: number,
    load: number,
    power: number | undefined,
    leaseMs: number,
    areaLoads: Record<string, number> = {},
  ): Promise<boolean> {
    const k = this.keys;
    return (
      (await this.scripts.serverReport(
        k.server(id),
        k.leases,
        k.areaLoad,
        id,
        epoch,
        load,
        power ?? '',
        leaseMs,
        k.authorityChannel,
        ...Object.entries(areaLoads).flat(),
      )) === 1
    );
  }

  /** The server's connection closed (no drain): its lease is cut to `graceMs`, unless it reconnects meanwhile. */
  async disconnectServer(id: string, epoch: number, graceMs: number): Promise<boolean> {
    const k = this.keys;
    return (await this.scripts.serverDisconnect(k.server(id), k.leases, id, epoch, k.authorityChannel, graceMs)) === 1;
  }

  async loadAreas(): Promise<Map<string, AreaOwner>> {
    const raw = await this.redis.hgetall(this.keys.areas);
    return new Map(Object.entries(raw).map(([area, v]) => [area, JSON.parse(v) as AreaOwner]));
  }

  async loadServers(): Promise<ServerInfo[]> {
    const ids = await this.redis.zrange(this.keys.servers, '0', '-1');
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.keys.server(id));
    const rows = (await pipe.exec()) ?? [];
    return ids.map((id, i) => {
      const h = (rows[i]?.[1] ?? {}) as Record<string, string>;
      return {
        id,
        power: Number(h.power ?? 1),
        load: Number(h.load ?? 0),
        status: (h.status ?? 'disconnected') as ServerStatus,
        node: h.node ?? '',
        epoch: Number(h.epoch ?? 0),
      };
    });
  }

  async loadPlayers(ids: string[]): Promise<Map<string, PlayerRecord>> {
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.keys.player(id));
    const rows = (await pipe.exec()) ?? [];
    const out = new Map<string, PlayerRecord>();
    ids.forEach((id, i) => {
      const h = (rows[i]?.[1] ?? {}) as Record<string, string>;
      out.set(id, {
        server: h.server ?? '',
        area: h.area ?? '',
        epoch: Number(h.epoch ?? 0),
        seq: Number(h.seq ?? 0),
        node: h.node ?? '',
        session: h.session ?? '',
        ...(h.snapshot === undefined ? {} : { snapshot: JSON.parse(h.snapshot) as unknown, snapSeq: Number(h.snapSeq ?? 0) }),
      });
    });
    return out;
  }

  serverPlayers(id: string): Promise<string[]> {
    return this.redis.smembers(this.keys.serverPlayers(id));
  }

  /**
   * Live nodes: heartbeat deadline not passed (by Redis' clock) and subscribed to their channel
   * right now. A node killed -9 loses its subscription at once, long before its heartbeat runs
   * out: nobody then waits for its acknowledgement or its answer.
   */
  async liveNodes(): Promise<string[]> {
    const nodes = await this.redis.zrangebyscore(this.keys.nodes, String(await this.clock.now()), '+inf');
    if (nodes.length === 0) return nodes;
    const counts = await this.deployment.subscribers(this.redis, nodes.map((n) => this.keys.nodeChannel(n)));
    return nodes.filter((_, i) => counts[i]! > 0);
  }

  async heartbeat(ttlMs: number, info: NodeReport): Promise<void> {
    const deadline = (await this.clock.now()) + ttlMs;
    await this.redis
      .multi()
      .zadd(this.keys.nodes, String(deadline), this.nodeId)
      .hset(this.keys.nodeInfo, this.nodeId, JSON.stringify(info))
      .exec();
  }

  /** Every node the mesh knows of: alive (heartbeat deadline not passed), with what it last reported. */
  async nodes(): Promise<({ id: string; alive: boolean } & NodeReport)[]> {
    const [now, scored, info] = await Promise.all([
      this.clock.now(),
      this.redis.zrange(this.keys.nodes, '0', '-1', 'WITHSCORES'),
      this.redis.hgetall(this.keys.nodeInfo),
    ]);
    const out: ({ id: string; alive: boolean } & NodeReport)[] = [];
    for (let i = 0; i < scored.length; i += 2) {
      const id = scored[i]!;
      const reported = JSON.parse(info[id] ?? '{}') as Partial<NodeReport>;
      const alive = Number(scored[i + 1]) > now;
      out.push({ id, alive, clients: reported.clients ?? 0, servers: reported.servers ?? 0, totals: reported.totals ?? {} });
    }
    return out;
  }
}
