// The /server namespace: handshake (network secret -> registration), state, load reports.
import type { Namespace } from 'socket.io';
import type { Logger } from 'winston';
import type { BridgeConfig } from '../shared/config.js';
import {
  ErrorCode, LoadReportSchema, PROTOCOL_VERSION, ServerHandshakeSchema, StateBatchSchema, type ServerHandshake,
} from '../shared/protocol.js';
import type { AuthorityCache } from './authority-cache.js';
import type { AuthorityMap, PlayerRecord } from './authority-map.js';
import { secretsEqual } from './auth.js';
import { WireError, guardHandshake } from './errors.js';
import type { Metrics } from './metrics.js';
import { ServerLink, type ServerLinks, type ServerSocket } from './server-link.js';
import type { StateRouter } from './state-router.js';

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
    const epoch = await this.d.map.registerServer(hs.serverId, hs.power, this.d.config.serverLeaseMs);
    const players = await this.d.map.loadPlayers(await this.d.map.serverPlayers(hs.serverId));
    socket.data.registered = { hs, epoch, players } satisfies Registered;
  }

  private onConnection(socket: ServerSocket): void {
    const { cache, links, metrics, logger, nodeId } = this.d;
    const { hs, epoch, players } = socket.data.registered as Registered;
    const link = new ServerLink(hs.serverId, epoch, socket, metrics);
    const old = links.add(link);
    if (old) this.replace(old);
    metrics.servers.set(links.size);
    logger.info('server registered', { server: hs.serverId, epoch, power: hs.power });

    socket.emit('welcome', { serverId: hs.serverId, epoch, node: nodeId, areas: cache.areasOf(hs.serverId), servers: [...cache.servers.values()] });
    for (const [player, rec] of players) {
      if (rec.server !== hs.serverId) continue;
      cache.rememberPlayer(player, rec);
      const known = hs.players?.[player];
      if (known === undefined) link.attach({ player, area: rec.area, epoch: rec.epoch, seq: rec.seq });
      else link.players.set(player, { area: rec.area, epoch: rec.epoch, lastSeq: Math.max(known, rec.seq) });
    }

    socket.on('state', (batch) => {
      const parsed = StateBatchSchema.safeParse(batch);
      if (!parsed.success) return link.error(ErrorCode.BadState, `state must be an array of 1..1024 items: ${parsed.error.issues[0]?.message ?? ''}`);
      this.d.state.fromServer(link, parsed.data);
    });
    socket.on('load', (report) => {
      const parsed = LoadReportSchema.safeParse(report);
      if (!parsed.success) return link.error(ErrorCode.BadState, 'load must be { load, power? }');
      this.d.map.reportLoad(hs.serverId, epoch, parsed.data.load, parsed.data.power, this.d.config.serverLeaseMs).then(
        (current) => { if (!current) this.replace(link); },
        (err: unknown) => logger.warn('load report failed', { server: hs.serverId, err: String(err) }),
      );
    });
    socket.onAny((event: string) => {
      if (event !== 'state' && event !== 'load') link.error(ErrorCode.UnknownEvent, `servers cannot send '${event}'`);
    });
    socket.on('disconnect', (reason) => {
      if (!links.remove(link)) return;
      metrics.servers.set(links.size);
      logger.info('server disconnected', { server: hs.serverId, epoch, reason });
      this.d.map.disconnectServer(hs.serverId, epoch).catch(() => {});
    });
  }

  /** Closes a link that a newer registration of the same server fenced. */
  replace(link: ServerLink): void {
    this.d.links.remove(link);
    this.d.metrics.servers.set(this.d.links.size);
    link.error(ErrorCode.SessionReplaced, `server ${link.serverId} registered again (epoch > ${link.epoch})`);
    link.socket.disconnect(true);
  }

  /** Ends a player's session at the node holding its server's link, recording the last applied seq. */
  async leaveHere(server: string, player: string, session: string): Promise<void> {
    const link = this.d.links.get(server);
    const seq = link?.players.get(player)?.lastSeq;
    const outcome = await this.d.map.leavePlayer(player, session, server, seq);
    if (outcome === 'applied') link?.detach(player, 'left');
  }
}
