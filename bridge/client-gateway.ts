// The /client namespace: handshake (token -> player, join), inputs, and the end of a session.
import { randomUUID } from 'node:crypto';
import type { Namespace } from 'socket.io';
import type { Logger } from 'winston';
import type { BridgeConfig } from '../shared/config.js';
import { ClientHandshakeSchema, ClientInputSchema, ErrorCode, isClientInput } from '../shared/protocol.js';
import type { AuthorityCache } from './authority-cache.js';
import type { AuthorityMap, PlayerRecord } from './authority-map.js';
import type { TokenVerifier } from './auth.js';
import { ClientSession, areaRoom, type ClientSessions, type ClientSocket } from './client-sessions.js';
import { WireError, guardHandshake } from './errors.js';
import { guardedOn } from './wire-guard.js';
import type { InputRouter } from './input-router.js';
import type { Metrics } from './metrics.js';
import type { NodeBus } from './node-bus.js';
import type { Placement } from './placement.js';

interface Joined {
  player: string;
  session: string;
  gen: number;
  server: string;
  area: string;
  epoch: number;
  seq: number;
}

export interface ClientGatewayDeps {
  nodeId: string;
  config: BridgeConfig;
  nsp: Namespace;
  cache: AuthorityCache;
  map: AuthorityMap;
  sessions: ClientSessions;
  placement: Placement;
  inputs: InputRouter;
  bus: NodeBus;
  verifier: TokenVerifier;
  metrics: Metrics;
  logger: Logger;
  isReady: () => boolean;
}

export class ClientGateway {
  private readonly graceTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly d: ClientGatewayDeps) {
    guardHandshake<ClientSocket>(d.nsp, 'client', d.metrics, d.logger, (socket) => this.handshake(socket));
    d.nsp.on('connection', (socket) => this.onConnection(socket));
  }

  close(): void {
    for (const t of this.graceTimers) clearTimeout(t);
    this.graceTimers.clear();
  }

  private async handshake(socket: ClientSocket): Promise<void> {
    if (!this.d.isReady()) throw new WireError(ErrorCode.NotReady, 'this bridge node is not ready (no Redis); try another or retry');
    const hs = ClientHandshakeSchema.safeParse(socket.handshake.auth);
    if (!hs.success) throw new WireError(ErrorCode.BadHandshake, 'auth must be { token, player? }');
    let player: string;
    try {
      player = await this.d.verifier.verify(hs.data.token);
    } catch (err) {
      throw new WireError(ErrorCode.BadToken, `token refused: ${(err as Error).message}`);
    }
    if (hs.data.player !== undefined && hs.data.player !== player) {
      throw new WireError(ErrorCode.PlayerMismatch, `token names ${player}, not ${hs.data.player}`);
    }
    const joined = await this.join(player);
    joined.seq = await this.resumePoint(joined, hs.data.ack ?? 0);
    socket.data.joined = joined;
  }

  /**
   * Where this session resumes (`session.ack`, and the session's `acked`): the last seq the owner's
   * link delivered, or the client's own last ack when that is higher (after a crash rolled the
   * player back to an autosave, the client no longer holds the inputs in between).
   */
  private async resumePoint(j: Joined, clientAck: number): Promise<number> {
    const node = this.d.cache.servers.get(j.server)?.node;
    // Short: the link's node answers in milliseconds, or it is gone (its server re-registers elsewhere).
    const reply = node
      ? await this.d.bus.request(node, { op: 'resume', s: j.server, player: j.player, epoch: j.epoch }, 250).catch(() => null) as { seq?: number } | null
      : null;
    return Math.max(reply?.seq ?? j.seq, clientAck);
  }

  /** Binds a new session to the player and makes sure it is attached to its area's owner. */
  private async join(player: string): Promise<Joined> {
    const { cache, map, placement } = this.d;
    const session: string = randomUUID();
    const { before, gen } = await map.joinPlayer(player, session);
    let rec: PlayerRecord = { ...before, node: this.d.nodeId, session };
    cache.rememberPlayer(player, rec);
    for (let attempt = 0; attempt < 5; attempt++) {
      const owner = rec.server ? cache.areas.get(rec.area) : undefined;
      if (owner && owner.server === rec.server) {
        return { player, session, gen, server: rec.server, area: rec.area, epoch: rec.epoch, seq: rec.seq };
      }
      const area = placement.areaFor(player, rec.area);
      const target = await placement.ownerOf(area);
      if (!target) throw new WireError(ErrorCode.NoServer, 'no game server can take this player now');
      // The owner's link attaches the player when it sees this change (with its saved state).
      const r = await map.assignPlayer({ player, expectedEpoch: rec.epoch, area, server: target.server, currentServer: rec.server, seq: rec.seq, reason: 'join' });
      if (r.outcome === 'applied') {
        this.d.metrics.ownershipChanges.inc({ kind: 'player' });
        // Not put in the cache here: the announcement must reach it as a change, so links attach.
        return { player, session, gen, server: target.server, area, epoch: r.epoch, seq: rec.seq };
      }
      // 'refused': the area is being moved (or changed hands); give the move a moment.
      if (r.outcome === 'refused') await new Promise((resolve) => setTimeout(resolve, 20 * (attempt + 1)));
      const fresh = (await map.loadPlayers([player])).get(player);
      if (!fresh || fresh.session !== session) throw new WireError(ErrorCode.SessionReplaced, 'a newer session took this player');
      rec = fresh;
    }
    throw new WireError(ErrorCode.Internal, 'could not attach the player (too much contention)');
  }

  private onConnection(socket: ClientSocket): void {
    const { sessions, metrics, config } = this.d;
    const j = socket.data.joined as Joined;
    const session = new ClientSession(j.player, j.session, j.gen, socket, j, { perSecond: config.inputsPerSecond, burst: config.inputBurst }, metrics);
    session.noteAck(j.seq);
    const old = sessions.add(session);
    if (old) this.replace(old);
    void socket.join(areaRoom(j.area));
    metrics.clients.set(sessions.size);
    socket.emit('session', {
      player: j.player, server: j.server, area: j.area, epoch: j.epoch, ack: j.seq, node: this.d.nodeId,
      limits: { inputsPerSecond: config.inputsPerSecond, inputBurst: config.inputBurst },
    });
    guardedOn(socket, 'input', this.d.logger, (code, message) => {
      metrics.inputsDropped.inc({ reason: code === ErrorCode.InputTooLarge ? 'too_large' : 'bad_input' });
      session.error(code, message);
    }, (input: unknown) => this.onInput(session, input));
    socket.onAny((event: string) => {
      if (event !== 'input') session.error(ErrorCode.UnknownEvent, `clients cannot send '${event}'`);
    });
    socket.on('disconnect', () => {
      if (!sessions.remove(session)) return;
      metrics.clients.set(sessions.size);
      const t = setTimeout(() => {
        this.graceTimers.delete(t);
        void this.leave(session);
      }, config.sessionGraceMs);
      this.graceTimers.add(t);
    });
  }

  /** Disconnects a local session that a newer join of the same player replaced. */
  replace(s: ClientSession): void {
    this.d.sessions.remove(s);
    s.error(ErrorCode.SessionReplaced, 'this player connected again elsewhere');
    s.socket.disconnect(true);
  }

  private onInput(s: ClientSession, input: unknown): void {
    const { metrics, config } = this.d;
    if (!s.takeInputToken()) {
      metrics.inputsDropped.inc({ reason: 'rate_limited' });
      return s.error(ErrorCode.RateLimited, `more than ${config.inputsPerSecond} inputs/s`);
    }
    if (typeof input === 'object' && input !== null && 'player' in input && input.player !== s.player) {
      metrics.inputsDropped.inc({ reason: 'forbidden' });
      return s.error(ErrorCode.ForbiddenPlayer, `this session speaks for ${s.player} only`);
    }
    if (!isClientInput(input)) {
      metrics.inputsDropped.inc({ reason: 'bad_input' });
      const issue = ClientInputSchema.safeParse(input).error?.issues[0];
      return s.error(ErrorCode.BadInput, `input must be { seq: positive integer, data }: ${issue?.message ?? 'malformed'}`);
    }
    const { seq, data } = input;
    if (!s.frozen) this.d.inputs.route(s.server, s.player, seq, data, s.acked);
    else if (s.frozen.length < config.freezeBufferMax) s.frozen.push({ seq, data });
    else metrics.inputsDropped.inc({ reason: 'frozen_overflow' });
  }

  /**
   * A new link of `server` is up (it reconnected, or its node died): inputs in flight to the old
   * one are gone. Its players' clients are told `active`, on which they re-send what is unacknowledged.
   */
  resendTo(server: string): void {
    for (const s of this.d.sessions.values()) if (s.server === server) this.tellActive(s);
  }

  /** After a Redis outage: inputs on the bus may be lost; every client here re-sends. */
  resendAll(): void {
    for (const s of this.d.sessions.values()) this.tellActive(s);
  }

  private tellActive(s: ClientSession): void {
    if (!s.frozen) s.socket.emit('authority', { status: 'active', server: s.server, area: s.area, epoch: s.epoch });
  }

  /** Holds the players' inputs while their owner changes (one `token` per change). Returns how many were frozen here. */
  freeze(players: string[], token: string, status: 'transferring' | 'recovering'): number {
    let n = 0;
    for (const player of players) {
      const s = this.d.sessions.get(player);
      if (!s) continue;
      // A thaw that never comes (its coordinator died) must not hold a player forever.
      s.freeze(token, status, this.d.config.handoffTimeoutMs * 4, () => this.thaw([player], token));
      n++;
    }
    return n;
  }

  /** Ends the change `token` for these players: once nothing holds them, their inputs go to their owner, in order. */
  thaw(players: string[], token: string): void {
    for (const player of players) {
      const s = this.d.sessions.get(player);
      const held = s?.thaw(token);
      if (s && held) for (const input of held) this.d.inputs.route(s.server, s.player, input.seq, input.data, s.acked);
    }
  }

  /** After the grace period: end the session unless the player came back meanwhile. */
  private async leave(s: ClientSession): Promise<void> {
    const { cache, sessions, map, bus, logger } = this.d;
    if (sessions.get(s.player)) return;
    const rec = cache.players.get(s.player);
    if (!rec || rec.session !== s.id) return;
    try {
      // The server's node ends it, as it knows the last seq applied; with no link anywhere, end it here.
      const node = rec.server ? cache.servers.get(rec.server)?.node : undefined;
      if (node) bus.send(node, { t: 'leave', s: rec.server, player: s.player, session: s.id, node: this.d.nodeId });
      else await map.leavePlayer(s.player, s.id, this.d.nodeId, rec.server, undefined);
    } catch (err) {
      logger.warn('leave failed', { player: s.player, err: String(err) });
    }
  }
}
