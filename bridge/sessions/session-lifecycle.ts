// A player's session, from join to end: binding a new session to the player (and attaching it to
// its area's owner), where it resumes, replacing an older session of the same player, following
// the player as its owner changes, ending it after the grace period, and ending the sessions of a
// bridge node that died. The one place that ends a session: `end`, run on the node that holds the
// player's server link (it knows the last seq applied).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'winston';
import type { BridgeConfig } from '../../shared/config.js';
import { ErrorCode } from '../../shared/protocol.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { AuthorityMap, PlayerRecord } from '../authority/authority-map.js';
import { CommitRefused, type AuthorityWriter } from '../authority/authority-writer.js';
import type { NodeBus } from '../bus/node-bus.js';
import type { Placement } from '../mesh/placement.js';
import type { Metrics } from '../ops/metrics.js';
import type { ServerLinks } from '../relay/server-link.js';
import { WireError } from '../relay/wire-error.js';
import { ClientSession, type ClientSessions, type ClientSocket } from './client-session.js';

/** A session bound in Redis, and where it stands. */
export interface Joined {
  player: string;
  session: string;
  gen: number;
  server: string;
  area: string;
  epoch: number;
  /** Where it resumes: the last seq its owner applied (or the client's own ack when higher). */
  seq: number;
  /** The client holds every input above this (its handshake's `saved`; a client without one holds none acknowledged). */
  saved?: number;
}

export interface SessionLifecycleDeps {
  config: BridgeConfig;
  cache: AuthorityCache;
  map: AuthorityMap;
  writer: AuthorityWriter;
  placement: Placement;
  sessions: ClientSessions;
  links: ServerLinks;
  bus: NodeBus;
  metrics: Metrics;
  logger: Logger;
}

/** What follows a session on this node: it is open here, its area changed, it is no longer here. */
export interface SessionObserver {
  enter(s: ClientSession): void;
  moved(s: ClientSession): void;
  leave(s: ClientSession): void;
}

export class SessionLifecycle {
  private readonly graceTimers = new Set<NodeJS.Timeout>();
  private readonly observers: SessionObserver[] = [];

  constructor(private readonly d: SessionLifecycleDeps) {
    const self = d.config.nodeId;
    d.bus.on('leave', (m) => {
      this.endHere(m.s, m.player, m.session, m.node).catch((err: Error) => d.logger.warn('leave failed', { err: err.message }));
    });
    // A newer join of the player elsewhere replaces the session here.
    d.cache.on('session', (player, node, _session, gen) => {
      const local = d.sessions.get(player);
      if (local && node !== self && gen > local.gen) this.replace(local);
    });
    // The session follows its player's owner.
    d.cache.on('player', (player, rec) => {
      const local = d.sessions.get(player);
      if (local && rec.server !== '' && rec.epoch > local.epoch) {
        const moved = local.area !== rec.area;
        local.moveTo(rec.server, rec.area, rec.epoch);
        if (moved) for (const o of this.observers) o.moved(local);
        if (!local.frozen) local.socket.emit('authority', { status: 'active', server: rec.server, area: rec.area, epoch: rec.epoch });
      }
    });
  }

  /** `o` is told of every session that opens here, moves to another area, or leaves (in that order). */
  observe(o: SessionObserver): void {
    this.observers.push(o);
  }

  /** Binds a new session to the player, attaches it to its area's owner and finds where it resumes. */
  /** `clientAck`: what a resuming client saw acknowledged; undefined for a client that never had a session (a fresh page). */
  async join(player: string, clientAck: number | undefined, clientSaved?: number): Promise<Joined> {
    const joined = await this.bind(player);
    joined.seq = await this.resumePoint(joined, clientAck);
    if (clientSaved !== undefined) joined.saved = clientSaved;
    return joined;
  }

  /** The client connected: its session is current here (an older one of the same player is replaced). */
  open(socket: ClientSocket, j: Joined): ClientSession {
    const { sessions, metrics, config } = this.d;
    const session = new ClientSession(
      j.player,
      j.session,
      j.gen,
      socket,
      j,
      { perSecond: config.inputsPerSecond, burst: config.inputBurst },
      metrics,
      // A client that names `saved` in its handshake holds its inputs above it; one that does not holds none acknowledged.
      j.saved === undefined ? 0 : config.heldInputs,
    );
    session.noteAck(j.seq);
    session.noteSaved(Math.min(j.saved ?? j.seq, j.seq));
    const old = sessions.add(session);
    if (old) this.replace(old);
    for (const o of this.observers) o.enter(session);
    metrics.clients.set(sessions.size);
    return session;
  }

  /** The client's connection closed: the session ends after the grace period unless it resumes meanwhile. */
  closed(session: ClientSession): void {
    const { sessions, metrics, config } = this.d;
    for (const o of this.observers) o.leave(session);
    if (!sessions.remove(session)) return;
    metrics.clients.set(sessions.size);
    const t = setTimeout(() => {
      this.graceTimers.delete(t);
      if (sessions.get(session.player)) return;
      const rec = this.d.cache.players.get(session.player);
      if (rec && rec.session === session.id) this.end(session.player, session.id, this.d.config.nodeId, rec.server);
    }, config.sessionGraceMs);
    this.graceTimers.add(t);
  }

  /** Disconnects a local session that a newer join of the same player replaced. */
  replace(s: ClientSession): void {
    for (const o of this.observers) o.leave(s);
    this.d.sessions.remove(s);
    this.d.metrics.clients.set(this.d.sessions.size);
    s.error(ErrorCode.SessionReplaced, 'this player connected again elsewhere');
    s.socket.disconnect(true);
  }

  /** Ends the sessions a dead node held whose clients did not resume elsewhere, then forgets the node. */
  async endSessionsOf(node: string): Promise<void> {
    const sessions = await this.d.map.sessionsOf(node);
    for (const [player, rec] of sessions) this.end(player, rec.session, node, rec.server);
    await this.d.map.forgetNode(node);
    if (sessions.size > 0) this.d.logger.info('ended the sessions of a dead node', { node, players: sessions.size });
  }

  close(): void {
    for (const t of this.graceTimers) clearTimeout(t);
    this.graceTimers.clear();
  }

  /** Ends `session` (opened on `node`) where its server's link is; with no link anywhere, here. */
  private end(player: string, session: string, node: string, server: string): void {
    const linkNode = server ? this.d.cache.servers.get(server)?.node : undefined;
    if (linkNode) this.d.bus.send(linkNode, { t: 'leave', s: server, player, session, node });
    else
      this.endHere(server, player, session, node).catch((err: Error) => this.d.logger.warn('leave failed', { player, err: err.message }));
  }

  /** Ends the session in Redis, recording the last seq this node's link of `server` delivered (if it holds one). */
  private async endHere(server: string, player: string, session: string, node: string): Promise<void> {
    const seq = this.d.links.get(server)?.players.get(player)?.lastSeq;
    await this.d.map.leavePlayer(player, session, node, server, seq);
  }

  /**
   * Where this session resumes: the last seq the owner's link delivered, or the client's own last
   * ack when that is higher (after a crash rolled the player back to an autosave, the client no
   * longer holds the inputs in between).
   */
  /**
   * The last seq the player's owner was given, asked of the node that holds its link (the only one that
   * knows it to the input). Never guessed for a client that knows nothing (a fresh page names no `ack`): while no
   * link answers for the player (its node just died and the server is re-linking elsewhere, or it is being
   * recovered), ask again as the map changes; past the time a server takes to come back or be recovered, the
   * handshake is refused NOT_READY (the client retries) rather than numbering the client's inputs from a seq
   * the server already passed. A resuming client (it names its `ack`, 0 included) numbers after its own last
   * seq, which its earlier session's ack already bounded, and re-sends what it keeps: it is not held.
   */
  private async resumePoint(j: Joined, clientAck: number | undefined): Promise<number> {
    const { cache, bus, config } = this.d;
    const deadline = Date.now() + config.serverReconnectGraceMs + config.serverLeaseMs + config.leaseCheckMs;
    for (;;) {
      const rec = cache.players.get(j.player);
      const server = rec && rec.server !== '' ? rec.server : j.server;
      const node = cache.servers.get(server)?.node;
      // Short: the link's node answers in milliseconds, or it is gone.
      const reply = node ? await bus.request(node, 'resume', { s: server, player: j.player }, 250).catch(() => null) : null;
      if (reply) return Math.max(reply.seq, j.seq, clientAck ?? 0);
      if (clientAck !== undefined) return Math.max(j.seq, clientAck);
      if (Date.now() > deadline) {
        throw new WireError(ErrorCode.NotReady, `where ${j.player} stands is not known yet (its server is re-linking); retry`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private async bind(player: string): Promise<Joined> {
    const { cache, map, placement, writer } = this.d;
    const session: string = randomUUID();
    const { before, gen } = await map.joinPlayer(player, session);
    let rec: PlayerRecord = { ...before, node: this.d.config.nodeId, session };
    cache.rememberPlayer(player, rec);
    for (let attempt = 0; attempt < 5; attempt++) {
      const owner = rec.server ? cache.areas.get(rec.area) : undefined;
      if (owner && owner.server === rec.server) {
        return { player, session, gen, server: rec.server, area: rec.area, epoch: rec.epoch, seq: rec.seq };
      }
      const area = placement.areaFor(player, rec.area);
      const target = await placement.ownerOf(area);
      if (!target) throw new WireError(ErrorCode.NoServer, 'no game server can take this player now');
      try {
        // The owner's link attaches the player when it sees this change (with its saved state).
        // Not put in the cache here: the announcement must reach it as a change, so links attach.
        const epoch = await writer.commit(
          {
            t: 'player',
            player,
            expectedEpoch: rec.epoch,
            area,
            server: target.server,
            currentServer: rec.server,
            seq: rec.seq,
            reason: 'join',
          },
          { acks: false },
        );
        return { player, session, gen, server: target.server, area, epoch, seq: rec.seq };
      } catch (err) {
        if (!(err instanceof CommitRefused)) throw err;
        // The area is being moved, or this node has not yet heard who owns it now: give it a moment.
        if (err.reason === 'moving' || err.reason === 'not-owner') await new Promise((resolve) => setTimeout(resolve, 20 * (attempt + 1)));
      }
      const fresh = (await map.loadPlayers([player])).get(player);
      if (!fresh || fresh.session !== session) throw new WireError(ErrorCode.SessionReplaced, 'a newer session took this player');
      rec = fresh;
    }
    throw new WireError(ErrorCode.Internal, 'could not attach the player (too much contention)');
  }
}
