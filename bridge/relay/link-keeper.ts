// Keeps this node's server links in line with the authority map, and speaks for them on the node
// bus. Every ownership change reaches the links from its announcement: a player attaches to the
// link of its new owner and detaches from the old one, an area is granted and released, a
// server's session that ended (re-registered, declared dead) is evicted. After this node missed
// announcements (its subscriber was away), `reconcile` re-reads what each link should hold.
import type { Logger } from 'winston';
import { ErrorCode, type ServerInfo } from '../../shared/protocol.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { AuthorityMap } from '../authority/authority-map.js';
import type { LiveServer } from '../authority/world-incarnation.js';
import type { NodeBus } from '../bus/node-bus.js';
import type { NodeRequests } from '../bus/node-messages.js';
import type { Metrics } from '../ops/metrics.js';
import { sealedBy, type ServerLink, type ServerLinks } from './server-link.js';

export class LinkKeeper {
  /** When each (server, player) was last looked up by heal(). */
  private readonly healed = new Map<string, number>();
  /** Until when (ms) heal() may attach from records: a few seconds after the last reconcile. */
  private healUntil = 0;
  constructor(
    private readonly links: ServerLinks,
    private readonly cache: AuthorityCache,
    private readonly map: AuthorityMap,
    private readonly bus: NodeBus,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    /** How long an export seals its players at this link before the move is presumed dead (moveHoldMs). */
    private readonly holdMs: number,
  ) {
    cache.on('player', (player, rec, _prev, change) => {
      for (const link of links.values()) {
        if (link.serverId !== rec.server && link.players.has(player)) link.detach(player, rec.server ? 'moved' : 'left');
        else if (link.serverId === rec.server && change) {
          link.attach({
            player,
            area: rec.area,
            epoch: rec.epoch,
            seq: change.seq ?? 0,
            ...(change.snapshot === undefined ? {} : { snapshot: change.snapshot }),
            ...(change.resync ? { resync: true } : {}),
          });
        }
        if (rec.server === '') link.socket.emit('presence', { player, status: 'left' });
      }
    });
    cache.on('session', (player) => {
      for (const link of links.values()) link.socket.emit('presence', { player, status: 'joined' });
    });
    cache.on('area', (area, owner, prev) => {
      links.get(owner.server)?.socket.emit('area:assign', { area, epoch: owner.epoch });
      if (prev && prev !== owner.server) links.get(prev)?.socket.emit('area:release', { area, epoch: owner.epoch });
    });
    cache.on('server', (info) => this.onServer(info));
    bus.on('emit', ({ s, e, p }) => {
      const link = links.get(s);
      const resumed = sealedBy(e, p);
      if (link && resumed) link.unseal(resumed);
      (link?.socket as { emit(event: string, payload: unknown): void } | undefined)?.emit(e, p);
    });
    bus.on('saved', ({ s, p }) => links.get(s)?.noteSaved(p));
    bus.answer('ask', (req) => this.ask(req));
    // The link knows the last seq it gave the server; a player not attached yet (its attach is on the way) starts
    // from its record, which the asker has. No link here: the asker must not guess (it asks again).
    bus.answer('resume', ({ s, player }) => {
      const link = links.get(s);
      return link ? { seq: link.players.get(player)?.lastSeq ?? 0 } : null;
    });
  }

  /** A server's autosave was stored (by whichever node ran the job): its link, here or on its node, learns what it covers. */
  saved(server: string, players: Record<string, number>): void {
    if (Object.keys(players).length === 0) return;
    const here = this.links.get(server);
    if (here) return here.noteSaved(players);
    const node = this.cache.servers.get(server)?.node;
    if (node) this.bus.send(node, { t: 'saved', s: server, p: players });
  }

  /**
   * Closes a link whose session is over: FENCED (declared dead, or its epoch is no longer current)
   * or SESSION_REPLACED (a newer registration of the same server).
   */
  evict(link: ServerLink, code: typeof ErrorCode.Fenced | typeof ErrorCode.SessionReplaced, message: string): void {
    this.links.remove(link);
    this.recordDelivered(link);
    this.metrics.servers.set(this.links.size);
    link.error(code, message);
    link.socket.disconnect(true);
  }

  /**
   * Writes the links' delivered seqs to Redis (each heartbeat, and when a link closes): a resuming
   * server's claims are checked against them.
   */
  recordDelivered(link?: ServerLink): void {
    for (const l of link ? [link] : this.links.values()) {
      this.map
        .storeDelivered(l.serverId, l.cursors())
        .catch((err: Error) => this.logger.warn('delivered seqs not recorded', { err: err.message }));
    }
  }

  /**
   * An input reached a link for a player it does not hold. If the map gives the player to this server
   * (an attach announcement missed while the subscriber was coming back, e.g. after Redis restarted), the
   * link attaches it from the record, as reconcile would; the client's next re-send is then delivered.
   * Only for a short while after a catch-up (when announcements may have been missed): otherwise a player
   * not attached yet is one whose attach is on its way (e.g. recovery onto a restarted server), and its old
   * record must not be used. At most one look per player and link every 500 ms.
   */
  heal(link: ServerLink, player: string): void {
    if (Date.now() > this.healUntil) return;
    const key = `${link.serverId}\u0000${player}`;
    const now = Date.now();
    if ((this.healed.get(key) ?? 0) > now - 500) return;
    this.healed.set(key, now);
    if (this.healed.size > 10_000) this.healed.clear();
    this.map.loadPlayers([player]).then((records) => {
      const rec = records.get(player);
      if (!rec || rec.server !== link.serverId || link.players.has(player) || this.links.get(link.serverId) !== link) return;
      if ((this.cache.players.get(player)?.epoch ?? 0) > rec.epoch) return;
      this.cache.rememberPlayer(player, rec);
      link.attachRecord(player, rec);
    }, (err: Error) => this.logger.warn('attach from the record failed', { player, err: err.message }));
  }

  /** Makes every link hold exactly the players the map gives its server (after missed announcements). */
  async reconcile(): Promise<void> {
    if (this.links.size > 0) this.healUntil = Date.now() + 3000; // a catch-up while serving (not the node's start)
    for (const link of this.links.values()) {
      const records = await this.map.loadPlayers(await this.map.serverPlayers(link.serverId));
      for (const [player, rec] of records) {
        if (rec.server !== link.serverId || link.players.has(player)) continue;
        // Never attach from a record older than what this node heard (an older snapshot came back, and the node
        // that holds the player has not restored it yet): that would give one player two owners.
        if ((this.cache.players.get(player)?.epoch ?? 0) > rec.epoch) continue;
        this.cache.rememberPlayer(player, rec);
        link.attachRecord(player, rec);
      }
      for (const player of [...link.players.keys()]) if (records.get(player)?.server !== link.serverId) link.detach(player, 'moved');
    }
  }

  /** The servers linked here with their areas and players, as a rebuilt map gets them back (world-incarnation.ts). */
  liveServers(): LiveServer[] {
    return [...this.links.values()].map((link) => {
      const info = this.cache.servers.get(link.serverId);
      const status = info?.status === 'syncing' || info?.status === 'draining' ? info.status : 'ready';
      return {
        id: link.serverId,
        epoch: link.epoch,
        power: info?.power ?? 1,
        status,
        load: info?.load ?? 0,
        areas: this.cache.areasOf(link.serverId).map((a) => [a.area, a.epoch] as [string, number]),
        players: [...link.players].map(([id, p]) => [id, p.area, p.epoch, p.lastSeq] as [string, string, number, number]),
      };
    });
  }

  /** The map was rebuilt with a full lease for every server linked here, as of `sentAt` (performance.now()). */
  leasesRestored(sentAt: number, leaseMs: number): void {
    for (const link of this.links.values()) link.leaseRenewed(sentAt, leaseMs);
  }

  /** This node's links serve again: clients elsewhere whose re-send met them catching up re-send once more. */
  announceLinks(): void {
    for (const link of this.links.values()) this.bus.broadcast({ t: 'linked', s: link.serverId });
  }

  private onServer(info: ServerInfo): void {
    const link = this.links.get(info.id);
    if (!link) return;
    if (info.epoch > link.epoch) this.evict(link, ErrorCode.SessionReplaced, `server ${info.id} registered again (epoch ${info.epoch})`);
    else if (info.epoch === link.epoch && info.status === 'dead')
      this.evict(link, ErrorCode.Fenced, `server ${info.id} was declared dead (lease expired)`);
  }

  /** A coordinator asks a server linked here; inputs already delivered go first (an export must include them). */
  private async ask(req: NodeRequests['ask']['body']): Promise<NodeRequests['ask']['reply']> {
    const link = this.links.get(req.s);
    if (!link) return { error: 'not linked here' };
    link.flush();
    // Nothing more is delivered for what is being exported (a freeze that missed a node must not
    // let an input reach the source after its export); resumed on *:resume, ended by the move.
    const exported = sealedBy(req.e, req.p);
    if (exported) link.seal(exported, this.holdMs);
    const resync = exported && req.e.endsWith(':export') ? link.awaitingResync(exported) : [];
    try {
      const reply: unknown = await (link.socket.timeout(req.ms) as unknown as AskSocket).emitWithAck(req.e, req.p);
      return resync.length > 0 ? { reply, resync } : { reply };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }
}

interface AskSocket {
  emitWithAck(event: string, payload: unknown): Promise<unknown>;
}
