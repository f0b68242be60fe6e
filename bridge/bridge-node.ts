// One bridge node: the composition root. Builds every part, wires them, and owns their lifecycle.
// Nothing here is a module-level singleton, so tests run several nodes in one process.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { Server as IoServer } from 'socket.io';
import type { Logger } from 'winston';
import type { BridgeConfig } from '../shared/config.js';
import { Keys } from '../shared/keys.js';
import { CLIENT_NAMESPACE, ErrorCode, SERVER_NAMESPACE } from '../shared/protocol.js';
import { AuthorityCache } from './authority-cache.js';
import { AuthorityMap } from './authority-map.js';
import { TokenVerifier } from './auth.js';
import { CacheBarrier } from './cache-barrier.js';
import { ClientGateway } from './client-gateway.js';
import { ClientSessions } from './client-sessions.js';
import { createHttpApi, type RecentChange } from './http-api.js';
import { InputRouter } from './input-router.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { NodeBus, type NodeMessage, type NodeRequest } from './node-bus.js';
import { OwnershipCoordinator } from './ownership.js';
import { Placement } from './placement.js';
import { AreaMover } from './area-mover.js';
import { ControlPlane } from './control-plane.js';
import { HandoffCoordinator } from './handoff.js';
import { MeshPlanner } from './mesh-planner.js';
import { MeshRpc } from './mesh-rpc.js';
import { LoadModel } from '../shared/load-model.js';
import { ServerGateway } from './server-gateway.js';
import { ServerLinks } from './server-link.js';
import { StateRouter } from './state-router.js';
import { WireError } from './errors.js';
import { guardedParser } from './wire-guard.js';

export class BridgeNode {
  readonly id: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly keys: Keys;
  readonly redis: Redis;
  readonly cache: AuthorityCache;
  readonly map: AuthorityMap;
  readonly bus: NodeBus;
  readonly links = new ServerLinks();
  readonly sessions = new ClientSessions();
  readonly ownership: OwnershipCoordinator;
  readonly handoffs: HandoffCoordinator;
  readonly mover: AreaMover;
  readonly planner: MeshPlanner;
  readonly control: ControlPlane;
  readonly http: HttpServer;
  readonly io: IoServer;
  private readonly sub: Redis;
  private readonly barrier = new CacheBarrier();
  private readonly clients: ClientGateway;
  private readonly servers: ServerGateway;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly recent: RecentChange[] = [];
  private ready = false;
  /** When a Redis connection of this node last came back (0: never lost). */
  private reconnectedAt = 0;

  constructor(readonly config: BridgeConfig, logger?: Logger) {
    this.id = config.nodeId;
    this.logger = logger ?? createLogger(this.id, config.logLevel);
    this.metrics = new Metrics(this.id);
    this.keys = new Keys(config.prefix, config.world);
    // Not lazy: ioredis connects and keeps retrying on its own; start() waits for both to be ready.
    // Reconnect attempts at most 250 ms apart, and while a restarted Redis loads its data, a ready
    // check every 100 ms (ioredis waits up to 1 s by default): the mesh is back soon after Redis is.
    const redisOptions = { maxRetriesPerRequest: 2, maxLoadingRetryTime: 100, retryStrategy: (times: number) => Math.min(times * 50, 250) };
    this.redis = new Redis(config.redisUrl, redisOptions);
    this.sub = new Redis(config.redisUrl, redisOptions);
    for (const [name, conn] of [['redis', this.redis], ['subscriber', this.sub]] as const) {
      conn.on('error', (err: Error) => this.logger.warn(`${name} error`, { err: err.message }));
    }
    this.map = new AuthorityMap(this.redis, this.keys, this.id);
    this.cache = new AuthorityCache(this.map);
    this.bus = new NodeBus(this.redis, this.keys, this.id, (err, what) => {
      this.metrics.errors.inc({ code: ErrorCode.Internal, side: 'node' });
      this.logger.error('node bus message failed', { what, err: err instanceof Error ? err.stack ?? err.message : String(err) });
    });

    this.http = createServer();
    const parser = guardedParser({
      maxDepth: config.maxJsonDepth,
      eventBytes: { [`${CLIENT_NAMESPACE} input`]: { bytes: config.maxInputBytes, code: ErrorCode.InputTooLarge } },
    }, this.metrics);
    const origins = new Set(config.corsOrigins?.split(' ') ?? []);
    this.io = new IoServer(this.http, {
      transports: ['websocket'], maxHttpBufferSize: config.maxMessageBytes, serveClient: false, parser,
      // Browsers connect from this node's own origin (the dashboard) or an allowed one; programs send no Origin.
      allowRequest: (req, done) => {
        const origin = req.headers.origin;
        if (origin === undefined || origins.has(origin) || new URL(origin).host === req.headers.host) return done(null, true);
        this.metrics.errors.inc({ code: 'ORIGIN_NOT_ALLOWED', side: 'http' });
        done(`origin ${origin} is not allowed (corsOrigins)`, false);
      },
    });
    // Only /client and /server speak the protocol: the default namespace admits no one.
    this.io.of('/').use((_socket, next) => {
      this.metrics.errors.inc({ code: ErrorCode.BadHandshake, side: 'wire' });
      next(new WireError(ErrorCode.BadHandshake, `connect to ${CLIENT_NAMESPACE} or ${SERVER_NAMESPACE}`));
    });
    const clientNsp = this.io.of(CLIENT_NAMESPACE);
    const verifier = new TokenVerifier(config);
    const inputs = new InputRouter(this.id, this.cache, this.links, this.bus, this.metrics);
    const state = new StateRouter(this.id, this.cache, this.sessions, this.bus, this.metrics, clientNsp);
    this.ownership = new OwnershipCoordinator({
      cache: this.cache, map: this.map, barrier: this.barrier, metrics: this.metrics, logger: this.logger, ackTimeoutMs: config.cacheAckTimeoutMs,
    });
    const placement = new Placement(this.cache, this.ownership, this.map, { cols: config.worldCols, rows: config.worldRows, spawnAreas: config.spawnAreas.split(' ') });
    const rpc = new MeshRpc(this.cache, this.bus, config.handoffTimeoutMs, () => this.map.liveNodes());
    this.handoffs = new HandoffCoordinator({
      map: this.map, barrier: this.barrier, rpc, placement, metrics: this.metrics, logger: this.logger, ackTimeoutMs: config.cacheAckTimeoutMs,
    });
    this.mover = new AreaMover({
      cache: this.cache, map: this.map, barrier: this.barrier, rpc, metrics: this.metrics, logger: this.logger,
      ackTimeoutMs: config.cacheAckTimeoutMs, handoffTimeoutMs: config.handoffTimeoutMs,
    });
    this.planner = new MeshPlanner({
      cache: this.cache, map: this.map, mover: this.mover, rpc, logger: this.logger, threshold: config.rebalanceThreshold, cooldownMs: config.areaCooldownMs,
    });
    this.control = new ControlPlane(config, this.keys, this.logger);
    this.servers = new ServerGateway({
      nodeId: this.id, config, nsp: this.io.of(SERVER_NAMESPACE), cache: this.cache, map: this.map, links: this.links, state,
      loadModel: new LoadModel(config.loadFormula, config.powerFormula), handoffs: this.handoffs, control: this.control,
      metrics: this.metrics, logger: this.logger, isReady: () => this.isReady(),
      cannotDrain: (server) => this.planner.cannotDrain(server),
      onLinked: (server) => {
        this.clients.resendTo(server);
        this.bus.broadcast({ t: 'linked', s: server });
      },
    });
    this.clients = new ClientGateway({
      nodeId: this.id, config, nsp: clientNsp, cache: this.cache, map: this.map, sessions: this.sessions, placement, inputs, bus: this.bus,
      verifier, metrics: this.metrics, logger: this.logger, isReady: () => this.isReady(),
    });
    this.http.on('request', createHttpApi({
      nodeId: this.id, world: config.world, grid: { cols: config.worldCols, rows: config.worldRows }, devLogin: config.devLogin, adminToken: config.adminToken,
      corsOrigins: config.corsOrigins?.split(' '),
      verifier, cache: this.cache, metrics: this.metrics, handoffs: this.handoffs, mover: this.mover, control: this.control, planner: this.planner,
      map: this.map, logger: this.logger, latestAreaState: state.latestAreaState, rebalanceThreshold: config.rebalanceThreshold,
      isReady: () => this.isReady(), recent: () => [...this.recent].reverse(),
    }));

    this.bus.onMessage((m, from) => this.onNodeMessage(m, from, inputs, state));
    this.bus.onRequest((req) => this.onNodeRequest(req));
    this.wireCache();
  }

  isReady(): boolean {
    return this.ready && this.redis.status === 'ready' && this.sub.status === 'ready';
  }

  /**
   * Listens at once (liveness answers, readiness says 503), waits for Redis, fills the cache and
   * becomes ready. Resolves with the HTTP port once ready.
   */
  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.config.port, this.config.host, () => resolve());
    });
    const port = (this.http.address() as AddressInfo).port;
    this.logger.info('bridge node listening', { host: this.config.host, port });
    const whenReady = (conn: Redis) => (conn.status === 'ready' ? Promise.resolve() : new Promise<void>((r) => conn.once('ready', () => r())));
    if (this.redis.status !== 'ready') this.logger.info('waiting for redis', { url: this.config.redisUrl });
    await Promise.all([whenReady(this.redis), whenReady(this.sub)]);
    this.sub.on('message', (channel: string, message: string) => {
      try {
        if (channel === this.keys.authorityChannel) this.cache.apply(message);
        else this.bus.receive(message);
      } catch (err) {
        this.metrics.errors.inc({ code: ErrorCode.Internal, side: 'node' });
        this.logger.error('pub/sub message failed', { channel, err: err instanceof Error ? err.stack ?? err.message : String(err) });
      }
    });
    await this.sub.subscribe(this.keys.authorityChannel, this.keys.broadcastChannel, this.keys.nodeChannel(this.id));
    // Updates and bus traffic sent while a connection was away are gone: re-read the map, and have
    // every client here re-send what is unacknowledged (its inputs may have been lost in between).
    const reconnected = () => {
      this.reconnectedAt = Date.now();
      if (!this.isReady()) return;
      this.catchUp().then(() => {
        this.clients.resendAll();
        // This node's links serve again: clients elsewhere whose re-send met them still catching up re-send once more.
        for (const link of this.links.values()) this.bus.broadcast({ t: 'linked', s: link.serverId });
      }, (err: Error) => this.logger.warn('cache reload failed', { err: err.message }));
    };
    this.sub.on('close', () => { this.cache.inSync = false; });
    this.sub.on('ready', reconnected);
    this.redis.on('ready', reconnected);
    await this.catchUp();
    const beat = () => this.map.heartbeat(this.config.nodeHeartbeatMs * 3, { clients: this.sessions.size, servers: this.links.size });
    await beat();
    this.heartbeat = setInterval(() => {
      beat().catch(() => {});
      this.servers.recordDelivered();
    }, this.config.nodeHeartbeatMs);
    await this.control.start({
      rebalance: () => this.planner.rebalance(),
      'lease-check': async () => {
        // Leases run out while Redis is away, though the servers are fine: after a reconnect, give
        // them one lease to report again before any is declared dead.
        if (Date.now() - this.reconnectedAt >= this.config.serverLeaseMs) {
          for (const s of await this.map.expiredLeases()) await this.recoverLater(s.id, s.epoch);
        }
        // Areas still held by a dead or departed server (no one could take them yet): try again.
        for (const s of this.cache.servers.values()) {
          if ((s.status === 'dead' || s.status === 'gone') && this.cache.areasOf(s.id).length > 0) await this.recoverLater(s.id, s.epoch);
        }
        for (const node of await this.map.deadNodes(this.config.sessionGraceMs)) await this.endSessionsOf(node);
      },
      recover: ({ server, epoch, areas }) => this.planner.recover(server, epoch, areas),
      drain: ({ server, epoch }) => this.planner.drain(server, epoch),
      persist: async ({ server, areas, players }) => { await this.map.storeSnapshot(server, areas ?? {}, players ?? {}); },
    });
    this.ready = true;
    this.logger.info('bridge node ready');
    return port;
  }

  /**
   * Stops serving. Sessions stay in Redis so their clients can resume on another node; those that
   * do not come back within the grace period are ended by the mesh (as for a node that died).
   */
  async close(): Promise<void> {
    this.ready = false;
    clearInterval(this.heartbeat);
    this.clients.close();
    await this.control.close();
    this.bus.flush();
    await new Promise<void>((resolve) => this.io.close(() => resolve()));
    await this.map.expireNode().catch(() => {});
    this.redis.disconnect();
    this.sub.disconnect();
  }

  private recoverLater(server: string, epoch: number): Promise<void> {
    const areas = Object.fromEntries(this.cache.areasOf(server).map((a) => [a.area, a.epoch]));
    return this.control.add('recover', { server, epoch, areas }, `recover:${server}:${epoch}`);
  }

  /**
   * Re-reads the map (changes announced while the subscriber was away are gone) and makes this
   * node's links match it: a missed announcement must not leave a player unattached, or attached
   * to a server that lost it. Only then does the node serve again.
   */
  private async catchUp(): Promise<void> {
    this.cache.inSync = false;
    await this.cache.reload();
    for (const link of this.links.values()) {
      const records = await this.map.loadPlayers(await this.map.serverPlayers(link.serverId));
      for (const [player, rec] of records) {
        if (rec.server !== link.serverId || link.players.has(player)) continue;
        this.cache.rememberPlayer(player, rec);
        link.attach({ player, area: rec.area, epoch: rec.epoch, seq: rec.seq, ...(rec.snapshot === undefined ? {} : { snapshot: rec.snapshot }) });
      }
      for (const player of [...link.players.keys()]) if (records.get(player)?.server !== link.serverId) link.detach(player, 'moved');
    }
    if (this.sub.status === 'ready') this.cache.inSync = true;
  }

  /** Ends the sessions a dead node held whose clients did not resume elsewhere, then forgets the node. */
  private async endSessionsOf(node: string): Promise<void> {
    const sessions = await this.map.sessionsOf(node);
    for (const [player, rec] of sessions) {
      const linkNode = rec.server ? this.cache.servers.get(rec.server)?.node : undefined;
      if (linkNode) this.bus.send(linkNode, { t: 'leave', s: rec.server, player, session: rec.session, node });
      else await this.map.leavePlayer(player, rec.session, node, rec.server, undefined);
    }
    await this.map.forgetNode(node);
    if (sessions.size > 0) this.logger.info('ended the sessions of a dead node', { node, players: sessions.size });
  }

  private onNodeMessage(m: NodeMessage, from: string, inputs: InputRouter, state: StateRouter): void {
    switch (m.t) {
      case 'in':
        inputs.deliverHere(m.s, m.i.player, m.i.seq, m.i.data, m.a);
        break;
      case 'st':
        state.deliverHere(m.i);
        break;
      case 'leave':
        this.servers.leaveHere(m.s, m.player, m.session, m.node).catch((err: Error) => this.logger.warn('leave failed', { err: err.message }));
        break;
      case 'emit': {
        const link = this.links.get(m.s);
        if (link && (m.e === 'player:resume' || m.e === 'area:resume')) link.unseal(m.p as { player?: string; area?: string });
        (link?.socket as { emit(e: string, p: unknown): void } | undefined)?.emit(m.e, m.p);
        break;
      }
      case 'linked':
        this.clients.resendTo(m.s);
        break;
      case 'thaw':
        this.clients.thaw(m.players, m.token);
        break;
      case 'ack':
        this.barrier.ack(m.id, from);
        break;
      default:
        break;
    }
  }

  private async onNodeRequest(req: NodeRequest): Promise<unknown> {
    if (req.op === 'freeze') return { frozen: this.clients.freeze(req.players, req.token, req.status) };
    if (req.op === 'resume') {
      const seq = this.links.get(req.s)?.delivered(req.player, req.epoch);
      return seq === undefined ? null : { seq };
    }
    const link = this.links.get(req.s);
    if (!link) return { error: 'not linked here' };
    link.flush(); // inputs already delivered go first: an export must include them
    // Nothing more is delivered for what is being exported (a freeze that missed a node must not
    // let an input reach the source after its export); resumed on *:resume, ended by the move.
    if (req.e === 'player:export' || req.e === 'area:export') link.seal(req.p as { player?: string; area?: string }, this.config.handoffTimeoutMs * 4);
    try {
      return { reply: await (link.socket.timeout(req.ms) as unknown as AskSocket).emitWithAck(req.e, req.p) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }

  /** Links and sessions follow the authority map: every change reaches them from its announcement. */
  private wireCache(): void {
    this.cache.on('applied', (id, from) => {
      if (from === this.id) this.barrier.ack(id, this.id);
      else this.bus.send(from, { t: 'ack', id });
    });
    this.cache.on('session', (player, node, _session, gen) => {
      const local = this.sessions.get(player);
      if (local && node !== this.id && gen > local.gen) this.clients.replace(local);
      for (const link of this.links.values()) link.socket.emit('presence', { player, status: 'joined' });
    });
    const remember = (c: Omit<RecentChange, 'at'>) => {
      this.recent.push({ at: Date.now(), ...c });
      if (this.recent.length > 20) this.recent.shift();
    };
    this.cache.on('player', (player, rec, prev, change) => {
      if (change && prev && prev.server && rec.server && prev.server !== rec.server) {
        remember({ kind: 'player', id: player, from: prev.server, to: rec.server, reason: change.reason ?? '' });
      }
      for (const link of this.links.values()) {
        if (link.serverId !== rec.server && link.players.has(player)) link.detach(player, rec.server ? 'moved' : 'left');
        else if (link.serverId === rec.server && change) {
          link.attach({
            player, area: rec.area, epoch: rec.epoch, seq: change.seq ?? 0,
            ...(change.snapshot === undefined ? {} : { snapshot: change.snapshot }), ...(change.reason === 'recover' ? { resync: true } : {}),
          });
        }
        if (rec.server === '') link.socket.emit('presence', { player, status: 'left' });
      }
      const local = this.sessions.get(player);
      if (local && rec.server !== '' && rec.epoch > local.epoch) {
        local.moveTo(rec.server, rec.area, rec.epoch);
        if (!local.frozen) local.socket.emit('authority', { status: 'active', server: rec.server, area: rec.area, epoch: rec.epoch });
      }
    });
    this.cache.on('area', (area, owner, prev) => {
      if (prev && prev !== owner.server) remember({ kind: 'area', id: area, from: prev, to: owner.server, reason: 'moved' });
      this.links.get(owner.server)?.socket.emit('area:assign', { area, epoch: owner.epoch });
      if (prev && prev !== owner.server) this.links.get(prev)?.socket.emit('area:release', { area, epoch: owner.epoch });
    });
    this.cache.on('server', (info) => {
      const link = this.links.get(info.id);
      if (!link) return;
      if (info.epoch > link.epoch) this.servers.evict(link, ErrorCode.SessionReplaced, `server ${info.id} registered again (epoch ${info.epoch})`);
      else if (info.epoch === link.epoch && info.status === 'dead') this.servers.evict(link, ErrorCode.Fenced, `server ${info.id} was declared dead (lease expired)`);
    });
  }
}

interface AskSocket {
  emitWithAck(event: string, payload: unknown): Promise<unknown>;
}
