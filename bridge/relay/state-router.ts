// Checks each state item a server pushes against the authority cache (owner and epoch), then
// delivers it: area state on its area's channel (heard by the nodes interested in the area, this
// one included at once), player state to the player's node, world state to every node (the bus
// turns a turn's worth into one SPUBLISH per destination).
import { ErrorCode, type StateItem } from '../../shared/protocol.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { AreaChannels, AreaItem } from '../interest/area-channels.js';
import { areaRoom } from '../interest/client-interest.js';
import type { ClientSessions } from '../sessions/client-session.js';
import { SLOW_ROOM, type SlowClients } from '../sessions/slow-clients.js';
import type { Metrics } from '../ops/metrics.js';
import type { NodeBus } from '../bus/node-bus.js';
import type { ServerLink } from './server-link.js';
import type { ClientNamespace } from './socket-server.js';

export class StateRouter {
  /** The latest state of each area this node received (the dashboard draws players from it). */
  readonly latestAreaState = new Map<string, unknown>();

  constructor(
    private readonly nodeId: string,
    private readonly cache: AuthorityCache,
    private readonly sessions: ClientSessions,
    private readonly bus: NodeBus,
    private readonly metrics: Metrics,
    private readonly clients: ClientNamespace,
    private readonly areas: AreaChannels,
    private readonly slow: SlowClients,
  ) {
    bus.on('st', (m) => this.deliverHere(m.i));
    areas.consume((items) => { for (const item of items) this.deliverArea(item); });
  }

  fromServer(link: ServerLink, items: StateItem[]): void {
    if (!this.cache.inSync) return void this.metrics.stateDropped.inc({ reason: 'out_of_sync' }, items.length);
    let refused: { code: ErrorCode; message: string; count: number } | undefined;
    const refuse = (problem: { code: ErrorCode; message: string }) => {
      if (refused) refused.count++;
      else refused = { ...problem, count: 1 };
    };
    for (const raw of items) {
      const problem = this.check(link, raw);
      if (problem) {
        this.metrics.stateDropped.inc({ reason: problem.code });
        refuse(problem);
        continue;
      }
      const item = this.withOwnAcks(link, raw, refuse);
      this.metrics.stateItemsByKind[item.kind].inc();
      if (item.kind === 'player') {
        const node = this.cache.players.get(item.player)?.node;
        if (node === this.nodeId) this.deliverHere(item);
        else if (node) this.bus.send(node, { t: 'st', i: item });
      } else if (item.kind === 'area') {
        this.areas.publish(item);
      } else {
        this.deliverHere(item);
        this.bus.broadcast({ t: 'st', i: item });
      }
    }
    if (refused) link.error(refused.code, `${refused.message} (${refused.count} item(s) dropped or trimmed)`);
  }

  /**
   * A server may acknowledge only the players it owns, and only inputs it was given: clients obey
   * acks (they drop what is acknowledged), so a forged one would make them forget inputs. Acks that
   * break the rule are removed (the state still goes out). A player acknowledged here whose owner's
   * autosave covers more than its client was told gets `saved` beside its ack (the client then drops
   * what that autosave covers). The item is copied only when one of these changes it.
   */
  private withOwnAcks(link: ServerLink, item: StateItem, refuse: (p: { code: ErrorCode; message: string }) => void): StateItem {
    if (item.kind === 'all' || item.acks === undefined) return item;
    let kept: Record<string, number> | undefined;
    let saved: Record<string, number> | undefined;
    for (const player in item.acks) {
      const seq = item.acks[player]!;
      const p = link.players.get(player);
      if (p?.saved !== undefined && p.saved !== p.savedSent && p.saved <= seq) {
        p.savedSent = p.saved;
        (saved ??= {})[player] = p.saved;
      }
      const problem = !p
        ? { code: ErrorCode.NotOwner, message: `acks for ${player}, which ${link.serverId} does not own` }
        : seq > p.lastSeq
          ? { code: ErrorCode.BadState, message: `acks seq ${seq} for ${player}, but only ${p.lastSeq} was delivered` }
          : undefined;
      if (problem) {
        this.metrics.stateDropped.inc({ reason: 'forged_ack' });
        refuse(problem);
        kept ??= { ...item.acks };
        delete kept[player];
      }
    }
    if (!kept && !saved) return item;
    return { ...item, ...(kept ? { acks: kept } : {}), ...(saved ? { saved } : {}) };
  }

  private deliverHere(item: StateItem): void {
    switch (item.kind) {
      case 'area':
        this.deliverArea(item);
        break;
      case 'player': {
        const s = this.sessions.get(item.player);
        if (!s) break;
        if (this.slow.isSlow(s)) this.slow.hold(item);
        else s.socket.emit('state', item);
        const ack = item.acks?.[item.player];
        if (ack !== undefined) s.noteAck(ack);
        const saved = item.saved?.[item.player];
        if (saved !== undefined) s.noteSaved(saved);
        break;
      }
      case 'all':
        if (this.slow.any) {
          this.clients.except(SLOW_ROOM).emit('state', item);
          this.slow.hold(item);
        } else this.clients.emit('state', item);
        break;
    }
  }

  /** Area state for the clients here that see the area (their interest sets are rooms). */
  private deliverArea(item: AreaItem): void {
    this.latestAreaState.set(item.area, item.data);
    if (this.slow.any) {
      this.clients.to(areaRoom(item.area)).except(SLOW_ROOM).emit('state', item);
      this.slow.hold(item);
    } else this.clients.to(areaRoom(item.area)).emit('state', item);
    if (item.acks) for (const player in item.acks) this.sessions.get(player)?.noteAck(item.acks[player]!);
    if (item.saved) for (const player in item.saved) this.sessions.get(player)?.noteSaved(item.saved[player]!);
  }

  private check(link: ServerLink, item: StateItem): { code: ErrorCode; message: string } | undefined {
    if (item.kind === 'area') {
      const owner = this.cache.areas.get(item.area);
      if (!owner || owner.server !== link.serverId)
        return { code: ErrorCode.NotOwner, message: `area ${item.area} is not owned by ${link.serverId}` };
      if (owner.epoch !== item.epoch)
        return { code: ErrorCode.StaleEpoch, message: `area ${item.area} is at epoch ${owner.epoch}, not ${item.epoch}` };
    } else if (item.kind === 'player') {
      const p = link.players.get(item.player);
      if (!p) return { code: ErrorCode.NotOwner, message: `player ${item.player} is not attached to ${link.serverId}` };
      if (p.epoch !== item.epoch)
        return { code: ErrorCode.StaleEpoch, message: `player ${item.player} is at epoch ${p.epoch}, not ${item.epoch}` };
    }
    return undefined;
  }
}
