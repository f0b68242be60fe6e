// One bridge node: the composition root. It builds the parts, hands each what it needs, and
// starts and stops them in order; every part registers its own bus handlers, control jobs and
// reactions to the authority map. No module-level singletons: tests run several nodes in a process.
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'winston';
import { moveHoldMs, type BridgeConfig } from '../shared/config.js';
import { Keys } from '../shared/keys.js';
import { LoadModel } from '../shared/load-model.js';
import { ChatRelay, ChatStore } from './chat/index.js';
import { AreaChannels, ClientInterest, ServerWatches } from './interest/index.js';
import {
  AuthorityCache, AuthorityMap, AuthorityWriter, CatchUp, loadScripts, loadWorldScripts, NodePresence, RedisClock, redisDeployment,
  WorldIncarnation, type RedisClient,
} from './authority/index.js';
import {
  ClientGateway, createSocketServer, InputRouter, LinkKeeper, ServerGateway, ServerLinks, StateRouter, TokenVerifier,
} from './relay/index.js';
import { ClientSessions, InputHolds, SessionLifecycle, SlowClients } from './sessions/index.js';
import { ControlPlane, FailureWatch, MeshPlanner, Placement, Transfers } from './mesh/index.js';
import { MeshRpc, NodeBus, Subscriber } from './bus/index.js';
import { RedisChunkStore, WorldSync } from './sync/index.js';
import { ServerRpc } from './rpc/index.js';
import { createHttpApi, createHttpServer, createLogger, EdgeGuard, Metrics, NetworkListing, RecentChanges } from './ops/index.js';
import { TestHook } from './test-hook.js';

export class BridgeNode {
  readonly id: string;
  readonly logger: Logger;
  /** What tests may inspect and do beyond the public surfaces (see ./test-hook.ts). */
  readonly testHook: TestHook;
  private readonly redis: RedisClient;
  private readonly redisAt: string; // where Redis is, for the logs
  private readonly sub: Subscriber;
  private readonly http: HttpServer;
  private readonly parts: { start(): Promise<void>; stop(): Promise<void> };
  private readonly edge: EdgeGuard;
  private ready = false;
  private closing: Promise<void> | undefined;

  constructor(readonly config: BridgeConfig, givenLogger?: Logger) {
    const c = config;
    const id = (this.id = c.nodeId);
    this.logger = givenLogger ?? createLogger(id, c.logLevel);
    const logger = this.logger;
    const metrics = new Metrics(id);
    const edge = (this.edge = new EdgeGuard(metrics, logger));
    const keys = new Keys(c.prefix, c.world);
    const deployment = redisDeployment(c);
    const redis = (this.redis = deployment.connect('redis', logger));
    this.redisAt = deployment.where;
    const sub = (this.sub = new Subscriber(deployment.connect('subscriber', logger, { subscriber: true }), metrics, logger));
    const isReady = () => this.ready && redis.status === 'ready' && sub.ready;
    const world = new WorldIncarnation({
      scripts: loadWorldScripts(redis), keys, nodeId: id, serverLeaseMs: c.serverLeaseMs, logger,
      restoreMs: Math.min(500, c.nodeHeartbeatMs),
    });
    const scripts = loadScripts(redis, world);
    const clock = new RedisClock(scripts.clock, keys);
    const map = new AuthorityMap(redis, scripts.records, keys, id, clock, deployment);
    const cache = new AuthorityCache(map);
    const bus = new NodeBus(redis, keys, id, metrics, logger, sub);
    sub.route(keys.authorityChannel, (m) => cache.apply(m));
    const writer = new AuthorityWriter({ config, keys, scripts: scripts.ownership, map, cache, bus, metrics, logger });
    const catchUp = new CatchUp(cache, sub, redis, logger, isReady);
    const control = new ControlPlane(c, keys, logger, deployment);
    const rpc = new MeshRpc(cache, bus, c.handoffTimeoutMs, () => map.liveNodes());
    this.http = createHttpServer(c, metrics);
    const { io, clients: clientNsp, servers: serverNsp } = createSocketServer(this.http, c, metrics, edge);
    const links = new ServerLinks();
    const sessions = new ClientSessions();
    const presence = new NodePresence(map, c.nodeHeartbeatMs, async () => ({
      clients: sessions.size, servers: links.size, totals: { ...(await metrics.totals()) },
    }));
    const keeper = new LinkKeeper(links, cache, map, bus, metrics, logger, moveHoldMs(c));
    const inputs = new InputRouter(id, cache, links, bus, metrics);
    const channels = new AreaChannels(id, keys, redis, sub, metrics, logger);
    const interest = new ClientInterest(channels, config);
    const watches = new ServerWatches(config, cache, links, channels);
    const serverRpc = new ServerRpc(config, cache, links, bus, metrics, logger);
    const slow = new SlowClients(c, sessions, metrics, logger);
    const state = new StateRouter(id, cache, sessions, bus, metrics, clientNsp, channels, slow);
    const placement = new Placement(cache, writer, map, config);
    const chunks = new RedisChunkStore(redis, scripts.chunks, keys, clock);
    const transfers = new Transfers({ config, cache, map, writer, rpc, placement, chunks, metrics, logger });
    const planner = new MeshPlanner({ config, cache, map, transfers, rpc, control, logger });
    const lifecycle = new SessionLifecycle({ config, cache, map, writer, placement, sessions, links, bus, metrics, logger });
    lifecycle.observe(interest);
    const holds = new InputHolds(c, sessions, inputs, bus);
    const watch = new FailureWatch(c, cache, map, control, lifecycle);
    const verifier = new TokenVerifier(c);
    const gateway = new ServerGateway({
      nodeId: id, config, nsp: serverNsp, cache, map, links, keeper, state, transfers, watches, rpc: serverRpc, control, metrics, logger,
      edge,
      isReady,
      loadModel: new LoadModel(c.loadFormula, c.powerFormula), cannotDrain: (s) => planner.cannotDrain(s), onLinked: (s) => holds.linked(s),
    });
    const sync = new WorldSync({ config, store: chunks, cache, map, links, gateway, bus, metrics, logger });
    const listing = new NetworkListing(config, keys, redis, clock, scripts.listing, cache, metrics, logger);
    const clientGateway = new ClientGateway({
      nodeId: id, config, nsp: clientNsp, lifecycle, holds, verifier, metrics, logger, edge, isReady,
    });
    const chat = new ChatStore(redis, scripts.chat, keys, {
      keep: c.chatHistory, perMinute: c.chatPerMinute, burst: c.chatBurst, inboxTtlMs: c.chatInboxTtlMs,
    });
    new ChatRelay({
      config, keys, store: chat, cache, sub, clients: clientGateway, nsp: clientNsp, servers: gateway, lifecycle, metrics, logger,
    });
    const recent = new RecentChanges(cache);
    this.http.on('request', createHttpApi({
      config, verifier, cache, metrics, transfers, control, planner, map, logger, isReady, recent, channels, listing, sync, chat, edge,
      latestAreaState: state.latestAreaState,
    }));
    catchUp.onCheck(() => world.check());
    catchUp.onReconcile(() => keeper.reconcile());
    catchUp.onReconnect(() => watch.redisCameBack());
    catchUp.onCaughtUp(() => { holds.resendAll(); keeper.announceLinks(); });
    presence.everyBeat(() => keeper.recordDelivered());
    presence.everyBeat(() => world.checkSoon());
    world.restoreServersFrom(() => keeper.liveServers());
    world.restoreSessionsFrom(() => sessions.live());
    bus.on('world', () => world.checkSoon());
    world.onRebuilt((started, restoredAt) => {
      if (started) bus.broadcast({ t: 'world', n: world.number });
      metrics.worldRebuilds.inc({ started: String(started) });
      keeper.leasesRestored(restoredAt, c.serverLeaseMs);
      watch.redisCameBack(); // leases were rewritten just now: no server is declared dead before it reports again
      keeper.recordDelivered();
      presence.beatNow();
      control.schedule().catch((err: Error) => logger.warn('control schedules not restored', { err: err.message }));
    });
    this.testHook = new TestHook({ cache, map, writer, transfers, links, keeper, sessions, metrics, channels, watches, chunks, edge });

    this.parts = {
      start: async () => {
        await sub.start(); await world.start(); await catchUp.run(); await presence.start(); await control.start(); await listing.start();
      },
      stop: async () => {
        slow.close(); listing.stop(); sync.close(); lifecycle.close();
        await control.close(); bus.flush(); await io.close(); await presence.stop();
      },
    };
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
    if (this.redis.status !== 'ready') this.logger.info('waiting for redis', { at: this.redisAt });
    const whenReady = (conn: RedisClient) => conn.status === 'ready' || new Promise<void>((r) => conn.once('ready', () => r()));
    await Promise.all([whenReady(this.redis), whenReady(this.sub.conn)]);
    await this.parts.start();
    this.ready = true;
    this.logger.info('bridge node ready');
    return port;
  }

  /** An exception nothing else caught (the process' last resort, main.ts): logged and counted as this node's. */
  reportFault(err: unknown): void {
    this.edge.fault('uncaught', err);
  }

  /**
   * Stops serving. Sessions stay in Redis so their clients can resume on another node; those that
   * do not come back within the grace period are ended by the mesh (as for a node that died).
   * Closing twice waits for the first (a closed cluster connection would hold new commands forever).
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.ready = false;
      await this.parts.stop();
      this.redis.disconnect();
      this.sub.conn.disconnect();
    })();
    return this.closing;
  }
}
