// The /server namespace: handshake (network secret -> registration), state, load reports.
import type { Namespace } from 'socket.io';
import type { Logger } from 'winston';
import type { BridgeConfig } from '../shared/config.js';
import type { LoadModel } from '../shared/load-model.js';
import {
  ErrorCode, HandoffRequestSchema, LoadReportSchema, isStateBatch, PROTOCOL_VERSION, ServerHandshakeSchema, SnapshotSchema, StateBatchSchema,
  type HandoffResult, type LoadReport, type ServerHandshake,
} from '../shared/protocol.js';
import type { AuthorityCache } from './authority-cache.js';
import type { AuthorityMap, PlayerRecord } from './authority-map.js';
import { secretsEqual } from './auth.js';
import { WireError, guardHandshake } from './errors.js';
import { guardedOn } from './wire-guard.js';
import type { Metrics } from './metrics.js';
import { ServerLink, type ServerLinks, type ServerSocket } from './server-link.js';
import type { StateRouter } from './state-router.js';
import type { ControlPlane } from './control-plane.js';
import type { HandoffCoordinator } from './handoff.js';

const SERVER_EVENTS = new Set(['state', 'load', 'snapshot', 'handoff', 'drain']);

interface Registered {
  hs: ServerHandshake;
  epoch: number;
  players: Map<string, PlayerRecord>;
}

export interface ServerGatewayDeps {
  nodeId: string;
  config: BridgeConfig;
  nsp: Namespace;
  cache: AuthorityCache;
  map: AuthorityMap;
  links: ServerLinks;
  state: StateRouter;
  loadModel: LoadModel;
  handoffs: HandoffCoordinator;
  control: ControlPlane;
  metrics: Metrics;
  logger: Logger;
  isReady: () => boolean;
}

export class ServerGateway {
  constructor(private readonly d: ServerGatewayDeps) {
    guardHandshake<ServerSocket>(d.nsp, 'server', d.metrics, d.logger, (socket) => this.handshake(socket));
    d.nsp.on('connection', (socket) => this.onConnection(socket));
  }

  private async handshake(socket: ServerSocket): Promise<void> {
    if (!this.d.isReady()) throw new WireError(ErrorCode.NotReady, 'this bridge node is not ready (no Redis); try another or retry');
    const parsed = ServerHandshakeSchema.safeParse(socket.handshake.auth);
    if (!parsed.success) throw new WireError(ErrorCode.BadHandshake, `auth must be { serverId, secret, power, protocol }: ${parsed.error.issues[0]?.message ?? ''}`);
    const hs = parsed.data;
    if (!secretsEqual(hs.secret, this.d.config.networkSecret)) throw new WireError(ErrorCode.BadSecret, 'wrong network secret');
    if (hs.protocol !== PROTOCOL_VERSION) throw new WireError(ErrorCode.ProtocolMismatch, `bridge speaks protocol ${PROTOCOL_VERSION}, not ${hs.protocol}`);
    if (hs.epoch !== undefined) {
      const rec = await this.d.map.serverRecord(hs.serverId);
      if (rec && (rec.status === 'dead' || rec.status === 'gone' || rec.epoch > hs.epoch)) {
        throw new WireError(ErrorCode.Fenced, `epoch ${hs.epoch} of ${hs.serverId} is over (${rec.status}); drop your state and register afresh`);
      }
    }
    const epoch = await this.d.map.registerServer(hs.serverId, hs.power, this.d.config.serverLeaseMs);
    const players = await this.d.map.loadPlayers(await this.d.map.serverPlayers(hs.serverId));
    socket.data.registered = { hs, epoch, players } satisfies Registered;
  }

  private onConnection(socket: ServerSocket): void {
    const { cache, links, metrics, logger, nodeId } = this.d;
    const { hs, epoch, players } = socket.data.registered as Registered;
    const link = new ServerLink(hs.serverId, epoch, socket, metrics);
    const old = links.add(link);
    if (old) this.evict(old, ErrorCode.SessionReplaced, `server ${old.serverId} registered again (epoch > ${old.epoch})`);
    metrics.servers.set(links.size);
    logger.info('server registered', { server: hs.serverId, epoch, power: hs.power });

    const owned = [...players].filter(([, rec]) => rec.server === hs.serverId);
    socket.emit('welcome', {
      serverId: hs.serverId, epoch, node: nodeId, world: { cols: this.d.config.worldCols, rows: this.d.config.worldRows }, leaseMs: this.d.config.serverLeaseMs,
      areas: cache.areasOf(hs.serverId), players: owned.map(([id]) => id), servers: [...cache.servers.values()],
    });
    for (const [player, rec] of owned) {
      cache.rememberPlayer(player, rec);
      const known = hs.players?.[player];
      if (known === undefined) link.attach({ player, area: rec.area, epoch: rec.epoch, seq: rec.seq, ...(rec.snapshot === undefined ? {} : { snapshot: rec.snapshot }) });
      else link.players.set(player, { area: rec.area, epoch: rec.epoch, lastSeq: Math.max(known, rec.seq) });
    }

    const answer = (code: ErrorCode, message: string, ack: ((r: unknown) => void) | undefined) => {
      link.error(code, message);
      ack?.({ ok: false, code, message });
    };
    const on = (event: string, handler: (...args: never[]) => unknown) => guardedOn(socket, event, logger, answer, handler);
    on('state', (batch: unknown) => {
      if (isStateBatch(batch)) return this.d.state.fromServer(link, batch);
      const issue = StateBatchSchema.safeParse(batch).error?.issues[0];
      link.error(ErrorCode.BadState, `state must be an array of 1..1024 items: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'malformed'}`);
    });
    on('load', (report: unknown) => {
      const parsed = LoadReportSchema.safeParse(report);
      if (!parsed.success) return link.error(ErrorCode.BadState, 'load must be { load?, power?, metrics?, areas? }');
      this.report(link, parsed.data);
    });
    on('snapshot', (snap: unknown) => {
      const parsed = SnapshotSchema.safeParse(snap);
      if (!parsed.success) return link.error(ErrorCode.BadState, 'snapshot must be { areas?, players? }');
      this.d.control.add('persist', { server: hs.serverId, ...parsed.data }).catch((err: Error) => logger.warn('snapshot not queued', { err: err.message }));
    });
    on('handoff', async (req: unknown, ack: unknown) => {
      const parsed = HandoffRequestSchema.safeParse(req);
      const reply = typeof ack === 'function' ? (ack as (r: HandoffResult) => void) : () => {};
      if (!parsed.success) {
        link.error(ErrorCode.BadInput, 'handoff must be { player, area }');
        return reply({ ok: false, code: ErrorCode.BadInput, message: 'handoff must be { player, area }' });
      }
      reply(await this.d.handoffs.handoff(parsed.data.player, parsed.data.area, hs.serverId));
    });
    on('drain', async (ack: unknown) => {
      const reply = typeof ack === 'function' ? (ack as (r: { ok: boolean }) => void) : () => {};
      await this.d.control.add('drain', { server: hs.serverId, epoch }, `drain:${hs.serverId}:${epoch}`).then(
        () => reply({ ok: true }),
        () => reply({ ok: false }),
      );
    });
    socket.onAny((event: string) => {
      if (!SERVER_EVENTS.has(event)) link.error(ErrorCode.UnknownEvent, `servers cannot send '${event}'`);
    });
    socket.on('disconnect', (reason) => {
      if (!links.remove(link)) return;
      metrics.servers.set(links.size);
      logger.info('server disconnected', { server: hs.serverId, epoch, reason });
      this.d.map.disconnectServer(hs.serverId, epoch).catch(() => {});
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
    this.d.map.reportLoad(link.serverId, link.epoch, load, power, this.d.config.serverLeaseMs, areaLoads).then(
      (current) => { if (!current) this.evict(link, ErrorCode.Fenced, `server ${link.serverId} epoch ${link.epoch} is no longer current`); },
      (err: unknown) => this.d.logger.warn('load report failed', { server: link.serverId, err: String(err) }),
    );
  }

  /**
   * Closes a link whose session is over: FENCED (declared dead, or its epoch is no longer current)
   * or SESSION_REPLACED (a newer registration of the same server).
   */
  evict(link: ServerLink, code: typeof ErrorCode.Fenced | typeof ErrorCode.SessionReplaced, message: string): void {
    this.d.links.remove(link);
    this.d.metrics.servers.set(this.d.links.size);
    link.error(code, message);
    link.socket.disconnect(true);
  }

  /** Ends a player's session (opened on `node`) at the node holding its server's link, recording the last applied seq. */
  async leaveHere(server: string, player: string, session: string, node: string): Promise<void> {
    const seq = this.d.links.get(server)?.players.get(player)?.lastSeq;
    await this.d.map.leavePlayer(player, session, node, server, seq);
  }
}
