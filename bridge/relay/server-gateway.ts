// The /server namespace: handshake (credentials, resume claims -> a registration), and what a
// server sends: state, load reports, autosaves, handoff and drain requests.
import type { Logger } from 'winston';
import type { BridgeConfig } from '../../shared/config.js';
import type { LoadModel } from '../../shared/load-model.js';
import {
  ErrorCode,
  HandoffRequestSchema,
  LoadReportSchema,
  isStateBatch,
  PROTOCOL_VERSION,
  ServerHandshakeSchema,
  SnapshotSchema,
  StateBatchSchema,
  type AreaGrant,
  type LoadReport,
  WatchRequestSchema,
  type ServerHandshake,
} from '../../shared/protocol.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { AuthorityMap, PlayerRecord } from '../authority/authority-map.js';
import type { ControlPlane } from '../mesh/control-plane.js';
import type { ServerWatches } from '../interest/server-watches.js';
import type { Transfers } from '../mesh/transfer.js';
import type { ServerRpc } from '../rpc/server-rpc.js';
import type { EdgeGuard } from '../ops/edge-guard.js';
import type { Metrics } from '../ops/metrics.js';
import { secretsEqual } from './auth.js';
import type { LinkKeeper } from './link-keeper.js';
import { ServerLink, type ServerLinks, type ServerSocket } from './server-link.js';
import type { ServerNamespace } from './socket-server.js';
import type { StateRouter } from './state-router.js';
import { WireError, guardHandshake, refusal, type Respond } from './wire-error.js';
import { guardedOn } from './wire-guard.js';

const SERVER_EVENTS = new Set(['state', 'load', 'snapshot', 'handoff', 'drain', 'area:watch', 'area:unwatch', 'rpc', 'message', 'lease']);

/** A server event that another part handles: its payload (undefined when none), and how to answer it. */
export type ServerEventHandler = (link: ServerLink, payload: unknown, respond: Respond) => unknown;

interface Registered {
  hs: ServerHandshake;
  epoch: number;
  status: 'syncing' | 'ready';
  /** Players this session takes over as they are (a resumed session's). */
  players: Map<string, PlayerRecord>;
  areas: AreaGrant[];
  /** A fresh process under a known id: the previous session's areas to restore from autosave. */
  recover?: { epoch: number; areas: Record<string, number> };
  /** When the registration (which starts the lease) was sent to Redis (performance.now()). */
  leaseFrom: number;
}

export interface ServerGatewayDeps {
  nodeId: string;
  config: BridgeConfig;
  nsp: ServerNamespace;
  cache: AuthorityCache;
  map: AuthorityMap;
  links: ServerLinks;
  keeper: LinkKeeper;
  state: StateRouter;
  loadModel: LoadModel;
  transfers: Transfers;
  watches: ServerWatches;
  rpc: ServerRpc;
  control: ControlPlane;
  metrics: Metrics;
  logger: Logger;
  /** Catches what a handshake throws by mistake. */
  edge: EdgeGuard;
  isReady: () => boolean;
  /** Why this server cannot drain now (no one could take its areas), or undefined. */
  cannotDrain: (server: string) => string | undefined;
  /** A link is up and its players attached: inputs routed to this node from now on reach it. */
  onLinked: (server: string) => void;
}

export class ServerGateway {
  private readonly handlers = new Map<string, ServerEventHandler>();
  private readonly linkHooks: ((link: ServerLink, status: 'syncing' | 'ready') => void)[] = [];
  private readonly unlinkHooks: ((link: ServerLink) => void)[] = [];

  constructor(private readonly d: ServerGatewayDeps) {
    guardHandshake<ServerSocket>(d.nsp, 'server', d, (socket) => this.handshake(socket));
    d.nsp.on('connection', (socket) => this.onConnection(socket));
    d.control.handle('persist', async ({ server, areas, players }) => {
      const { saved } = await d.map.storeSnapshot(server, areas ?? {}, players ?? {});
      d.keeper.saved(server, saved);
    });
  }

  /** Another part handles this server event (its payload is the first argument, or undefined when there is none). */
  handle(event: string, handler: ServerEventHandler): void {
    if (SERVER_EVENTS.has(event) || this.handlers.has(event)) throw new Error(`server event ${event} already has a handler`);
    this.handlers.set(event, handler);
  }

  /** Runs `fn` when a server's link is up (after its welcome), with the status its registration gave it. */
  onLink(fn: (link: ServerLink, status: 'syncing' | 'ready') => void): void {
    this.linkHooks.push(fn);
  }

  /** Runs `fn` when a server's connection closes. */
  onUnlink(fn: (link: ServerLink) => void): void {
    this.unlinkHooks.push(fn);
  }

  private async handshake(socket: ServerSocket): Promise<void> {
    const { config, map, cache } = this.d;
    if (!this.d.isReady()) throw new WireError(ErrorCode.NotReady, 'this bridge node is not ready (no Redis); try another or retry');
    const parsed = ServerHandshakeSchema.safeParse(socket.handshake.auth);
    if (!parsed.success)
      throw new WireError(
        ErrorCode.BadHandshake,
        `auth must be { serverId, secret, power, protocol }: ${parsed.error.issues[0]?.message ?? ''}`,
      );
    const hs = parsed.data;
    this.checkCredentials(hs);
    if (hs.protocol !== PROTOCOL_VERSION)
      throw new WireError(ErrorCode.ProtocolMismatch, `bridge speaks protocol ${PROTOCOL_VERSION}, not ${hs.protocol}`);
    if (hs.epoch !== undefined) await this.checkResume(hs);
    // A fresh process knows nothing of the world: it syncs before it takes work. A reconnect holds it already.
    const fresh = hs.epoch === undefined;
    const leaseFrom = performance.now();
    const { epoch, before, status } = await map.registerServer(hs.serverId, hs.power, config.serverLeaseMs, fresh ? 'syncing' : 'ready');
    if (fresh && before !== '') {
      // A fresh process under a known id: what the previous session held died with it. Its areas
      // are recovered from their last autosave (to whichever server is least loaded, this one
      // included), exactly as if it had crashed; nothing of it is handed to this session as is.
      const areas = Object.fromEntries(cache.areasOf(hs.serverId).map((a) => [a.area, a.epoch]));
      const recover = { epoch: epoch - 1, areas };
      socket.data.registered = { hs, epoch, status, players: new Map(), areas: [], recover, leaseFrom } satisfies Registered;
      return;
    }
    const players = await map.loadPlayers(await map.serverPlayers(hs.serverId));
    socket.data.registered = { hs, epoch, status, players, areas: cache.areasOf(hs.serverId), leaseFrom } satisfies Registered;
  }

  /** The network secret, or the server's own key when `serverKeys` lists its id. */
  private checkCredentials(hs: ServerHandshake): void {
    const own = this.d.config.serverKeys[hs.serverId];
    if (own !== undefined) {
      if (!secretsEqual(hs.secret, own)) throw new WireError(ErrorCode.BadSecret, `wrong key for server ${hs.serverId}`);
    } else if (this.d.config.serverKeysOnly) {
      throw new WireError(ErrorCode.BadSecret, `server id ${hs.serverId} has no key on this network`);
    } else if (!secretsEqual(hs.secret, this.d.config.networkSecret)) {
      throw new WireError(ErrorCode.BadSecret, 'wrong network secret');
    }
  }

  /**
   * A reconnecting server claims its epoch and, per player, the last seq it applied. The epoch
   * must be the one the bridge issued last (and still alive); each claim at most what the bridge
   * recorded as delivered (links record every heartbeat), plus one heartbeat's worth of inputs.
   */
  private async checkResume(hs: ServerHandshake): Promise<void> {
    const { map, config } = this.d;
    const rec = await map.serverRecord(hs.serverId);
    const claimed = hs.epoch!;
    if (!rec || rec.epoch < claimed)
      throw new WireError(ErrorCode.Fenced, `epoch ${claimed} of ${hs.serverId} was never issued; register afresh`);
    if (rec.status === 'dead' || rec.status === 'gone' || rec.epoch > claimed) {
      throw new WireError(
        ErrorCode.Fenced,
        `epoch ${claimed} of ${hs.serverId} is over (${rec.status}); drop your state and register afresh`,
      );
    }
    const claims = Object.entries(hs.players ?? {});
    if (claims.length === 0) return;
    const ids = claims.map(([p]) => p);
    const [delivered, records] = await Promise.all([map.deliveredTo(hs.serverId, ids), map.loadPlayers(ids)]);
    const allowance = config.inputBurst + Math.ceil((config.inputsPerSecond * 2 * config.nodeHeartbeatMs) / 1000);
    for (const [player, seq] of claims) {
      const known = Math.max(delivered.get(player) ?? 0, records.get(player)?.seq ?? 0);
      if (seq > known + allowance) {
        throw new WireError(ErrorCode.BadHandshake, `claims seq ${seq} applied for ${player}, but at most ${known} was delivered`);
      }
    }
  }

  private onConnection(socket: ServerSocket): void {
    const { cache, links, metrics, logger, nodeId } = this.d;
    const { hs, epoch, status, players, areas, recover, leaseFrom } = socket.data.registered as Registered;
    const link = new ServerLink(hs.serverId, epoch, socket, metrics);
    link.onUnattached = (player) => this.d.keeper.heal(link, player);
    link.leaseRenewed(leaseFrom, this.d.config.serverLeaseMs);
    const old = links.add(link);
    if (old) this.d.keeper.evict(old, ErrorCode.SessionReplaced, `server ${old.serverId} registered again (epoch > ${old.epoch})`);
    metrics.servers.set(links.size);
    logger.info('server registered', {
      server: hs.serverId,
      epoch,
      power: hs.power,
      ...(recover ? { recovering: Object.keys(recover.areas) } : {}),
    });

    const owned = [...players].filter(([, rec]) => rec.server === hs.serverId);
    socket.emit('welcome', {
      serverId: hs.serverId,
      epoch,
      node: nodeId,
      world: { cols: this.d.config.worldCols, rows: this.d.config.worldRows },
      leaseMs: this.d.config.serverLeaseMs,
      confirmMs: link.confirmWindow(this.d.config.serverReconnectGraceMs),
      areas,
      players: owned.map(([id]) => id),
      servers: [...cache.servers.values()],
      status,
    });
    for (const [player, rec] of owned) {
      cache.rememberPlayer(player, rec);
      const known = hs.players?.[player];
      if (known === undefined) link.attachRecord(player, rec);
      else link.players.set(player, { area: rec.area, epoch: rec.epoch, lastSeq: Math.max(known, rec.seq) });
    }
    this.d.onLinked(hs.serverId);
    this.d.watches.linked(link);
    for (const fn of this.linkHooks) fn(link, status);
    if (recover) {
      this.d.control.recoverLater(hs.serverId, recover.epoch, recover.areas)
        .catch((err: Error) => logger.warn('recovery not queued', { server: hs.serverId, err: err.message }));
    }

    // The one way an event is answered: through its acknowledgement when it has one, else (a refusal) as an
    // `error` event; never both, and every refusal counted either way.
    const respondTo = (ack: unknown, event: string): Respond => (r) => {
      if (typeof ack !== 'function') return r.ok ? undefined : link.error(r.code, `${r.message} (${event} needs an acknowledgement)`);
      if (!r.ok) metrics.errors.inc({ code: r.code, side: 'server' });
      (ack as (reply: unknown) => void)(r);
    };
    // A refusal from the parser or a failed handler: the same, without the note (the event had no ack to miss).
    const answer = (code: ErrorCode, message: string, ack: ((r: unknown) => void) | undefined) =>
      ack ? respondTo(ack, '')(refusal(code, message)) : link.error(code, message);
    const on = (event: string, handler: (...args: never[]) => unknown) => guardedOn(socket, event, logger, answer, handler);
    on('state', (batch: unknown) => {
      if (isStateBatch(batch)) return this.d.state.fromServer(link, batch);
      const issue = StateBatchSchema.safeParse(batch).error?.issues[0];
      link.error(
        ErrorCode.BadState,
        `state must be an array of 1..1024 items: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'malformed'}`,
      );
    });
    on('load', (report: unknown) => {
      const parsed = LoadReportSchema.safeParse(report);
      if (!parsed.success) return link.error(ErrorCode.BadState, 'load must be { load?, power?, metrics?, areas? }');
      this.report(link, parsed.data);
    });
    on('snapshot', (snap: unknown) => {
      const parsed = SnapshotSchema.safeParse(snap);
      if (!parsed.success) return link.error(ErrorCode.BadState, 'snapshot must be { areas?, players? }');
      this.d.control
        .add('persist', { server: hs.serverId, ...parsed.data })
        .catch((err: Error) => logger.warn('snapshot not queued', { err: err.message }));
    });
    on('handoff', async (req: unknown, ack: unknown) => {
      const parsed = HandoffRequestSchema.safeParse(req);
      const respond = respondTo(ack, 'handoff');
      if (!parsed.success) return respond(refusal(ErrorCode.BadInput, 'handoff must be { player, area }'));
      respond(await this.d.transfers.movePlayer(parsed.data.player, parsed.data.area, hs.serverId));
    });
    on('area:watch', (w: unknown) => {
      const parsed = WatchRequestSchema.safeParse(w);
      if (!parsed.success) return link.error(ErrorCode.BadInput, 'area:watch must be { areas: [1..256 area ids] }');
      this.d.watches.watch(link, parsed.data.areas);
    });
    on('area:unwatch', (w: unknown) => {
      const parsed = WatchRequestSchema.safeParse(w);
      if (!parsed.success) return link.error(ErrorCode.BadInput, 'area:unwatch must be { areas: [1..256 area ids] }');
      this.d.watches.unwatch(link, parsed.data.areas);
    });
    on('rpc', async (req: unknown, ack: unknown) => respondTo(ack, 'rpc')(await this.d.rpc.call(link, req)));
    on('message', (m: unknown) => this.d.rpc.send(link, m));
    // Answered only while this link is current (an evicted one is closed): the server's proof that it still owns what it holds.
    on('lease', (ack: unknown) => respondTo(ack, 'lease')({ ok: true, ms: link.confirmWindow(this.d.config.serverReconnectGraceMs) }));
    for (const [event, handler] of this.handlers) {
      on(event, (...args: unknown[]) => {
        const respond = respondTo(args.at(-1), event);
        return handler(link, typeof args[0] === 'function' ? undefined : args[0], respond);
      });
    }
    on('drain', async (ack: unknown) => {
      const reply = respondTo(ack, 'drain');
      const why = this.d.cannotDrain(hs.serverId);
      if (why) return reply({ ok: false, code: ErrorCode.NoServer, message: why });
      await this.d.control.add('drain', { server: hs.serverId, epoch }, `drain:${hs.serverId}:${epoch}`).then(
        () => reply({ ok: true }),
        (err: Error) => reply({ ok: false, code: ErrorCode.Internal, message: `drain not queued: ${err.message}` }),
      );
    });
    socket.onAny((event: string) => {
      if (!SERVER_EVENTS.has(event) && !this.handlers.has(event)) link.error(ErrorCode.UnknownEvent, `servers cannot send '${event}'`);
    });
    socket.on('disconnect', (reason) => {
      this.d.watches.unlinked(link);
      for (const fn of this.unlinkHooks) fn(link);
      this.d.keeper.recordDelivered(link);
      if (!links.remove(link)) return;
      metrics.servers.set(links.size);
      logger.info('server disconnected', { server: hs.serverId, epoch, reason });
      // Gone without a drain: recovered once the reconnect grace passes, unless it is back by then.
      // When this node is the one closing, the server is not at fault: its lease runs on while it
      // reconnects to another node.
      const closing = !this.d.isReady();
      const grace = closing ? this.d.config.serverLeaseMs : this.d.config.serverReconnectGraceMs;
      this.d.map.disconnectServer(hs.serverId, epoch, grace).then(
        (cut) => (cut && !closing ? this.d.control.checkLeasesIn(grace + 50, `${hs.serverId}:${epoch}`) : undefined),
        (err: Error) => logger.warn('disconnect not recorded', { server: hs.serverId, err: err.message }),
      ).catch((err: Error) => logger.warn('lease check not queued', { server: hs.serverId, err: err.message }));
    });
  }

  /** Turns a report into load (formula per area, summed), power and area loads; renews the lease. */
  private report(link: ServerLink, r: LoadReport): void {
    const model = this.d.loadModel;
    const areaLoads: Record<string, number> = {};
    for (const [area, m] of Object.entries(r.areas ?? {})) {
      if (this.d.cache.areas.get(area)?.server === link.serverId) areaLoads[area] = model.areaLoad(m);
    }
    const load = r.load ?? Object.values(areaLoads).reduce((a, b) => a + b, 0);
    const power = r.power ?? (r.metrics ? model.serverPower(r.metrics) : undefined);
    const sentAt = performance.now();
    this.d.map.reportLoad(link.serverId, link.epoch, load, power, this.d.config.serverLeaseMs, areaLoads).then(
      (current) => {
        if (current) link.leaseRenewed(sentAt, this.d.config.serverLeaseMs);
        else this.d.keeper.evict(link, ErrorCode.Fenced, `server ${link.serverId} epoch ${link.epoch} is no longer current`);
      },
      (err: unknown) => this.d.logger.warn('load report failed', { server: link.serverId, err: String(err) }),
    );
  }
}
