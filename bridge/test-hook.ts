// The one door tests have into a node beyond the public surfaces (SDKs, HTTP, the protocol): read
// the node's view of the map and its counters, read Redis records, and make the ownership changes
// a scenario needs as a setup step. Nothing else of a node is reachable from outside.
import type { HandoffResult } from '../shared/protocol.js';
import type { AuthorityCache } from './authority/authority-cache.js';
import type { AuthorityMap } from './authority/authority-map.js';
import type { AuthorityWriter } from './authority/authority-writer.js';
import type { AreaChannels } from './interest/area-channels.js';
import type { ServerWatches } from './interest/server-watches.js';
import type { Transfers } from './mesh/transfer.js';
import type { EdgeGuard, EdgePoint } from './ops/edge-guard.js';
import type { Metrics } from './ops/metrics.js';
import type { LinkKeeper } from './relay/link-keeper.js';
import type { ServerLinks } from './relay/server-link.js';
import type { ClientSessions } from './sessions/client-session.js';
import type { ChunkStore } from './sync/chunk-store.js';

export interface TestHookParts {
  cache: AuthorityCache;
  map: AuthorityMap;
  writer: AuthorityWriter;
  transfers: Transfers;
  links: ServerLinks;
  keeper: LinkKeeper;
  sessions: ClientSessions;
  metrics: Metrics;
  channels: AreaChannels;
  watches: ServerWatches;
  chunks: ChunkStore;
  edge: EdgeGuard;
}

export class TestHook {
  constructor(private readonly p: TestHookParts) {}

  /** This node's cache of the map (read it; it changes only by announcements). */
  get cache(): Pick<AuthorityCache, 'areas' | 'servers' | 'players' | 'areasOf'> {
    return this.p.cache;
  }

  /** The map in Redis: records, and the status changes an operator or a lease check makes. */
  get map(): AuthorityMap {
    return this.p.map;
  }

  get metrics(): Metrics {
    return this.p.metrics;
  }

  /** Gives an area to a server as placement would (through the one write path); returns the epoch. */
  assignArea(area: string, server: string): Promise<number> {
    return this.p.writer.commit({ t: 'area', area, expectedEpoch: this.p.cache.areas.get(area)?.epoch ?? 0, server });
  }

  /** Moves an area as the admin API does. */
  moveArea(area: string, server: string): Promise<number> {
    return this.p.transfers.moveArea(area, server, 'admin');
  }

  handoff(player: string, area: string): Promise<HandoffResult> {
    return this.p.transfers.movePlayer(player, area);
  }

  /** The epoch of the server's link on this node, if it holds one. */
  linkEpoch(server: string): number | undefined {
    return this.p.links.get(server)?.epoch;
  }

  /** Areas this node listens to, and areas whose state reached it from another node. */
  interest(): { subscribed: string[]; heard: string[] } {
    return { subscribed: this.p.channels.areas().sort(), heard: [...this.p.channels.heard].sort() };
  }

  /** The areas a server linked here receives ghosts of. */
  watched(server: string): string[] {
    return this.p.watches.watched(server).sort();
  }

  /** The world-data store: its index, to check what was stored. */
  get chunks(): Pick<ChunkStore, 'index'> {
    return this.p.chunks;
  }

  /** The next request through this entry point throws, as a bug there would: the guard's catch path, for real. */
  injectFault(where: Exclude<EdgePoint, 'uncaught'>): void {
    this.p.edge.inject(where);
  }

  /** The server's link here forgets a player as if its attach announcement had been missed (the server is not told). */
  forgetAttach(server: string, player: string): boolean {
    return this.p.links.get(server)?.players.delete(player) ?? false;
  }

  /** Makes this node's links match the map in Redis, as it does after missing announcements (a reconnect). */
  reconcileLinks(): Promise<void> {
    return this.p.keeper.reconcile();
  }

  /** Cuts a server's connection held here as a network fault would (the transport closes; no drain, no error). */
  dropLink(server: string): boolean {
    const link = this.p.links.get(server);
    link?.socket.conn.close();
    return link !== undefined;
  }

  /** The id of the player's session on this node, if it is connected here. */
  sessionId(player: string): string | undefined {
    return this.p.sessions.get(player)?.id;
  }
}
