// Ghosts: a game server receives read-only state of the areas it watches — by default every area
// within `ghostRadius` of the areas it owns (following ownership as it changes), plus those it asks
// for with `area:watch` (at most `maxWatchedAreas`). Delivered as `ghost` batches, one per server
// per event-loop turn, holding the same items the areas' owners pushed. A ghost grants nothing:
// pushing state for a watched area is refused as for any area the server does not own.
import type { BridgeConfig } from '../../shared/config.js';
import { isInGrid, neighbourhood } from '../../shared/grid.js';
import { ErrorCode, type GhostItem } from '../../shared/protocol.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { ServerLink, ServerLinks } from '../relay/server-link.js';
import type { AreaChannels } from './area-channels.js';

interface Watching {
  /** Areas asked for with area:watch. */
  explicit: Set<string>;
  /** Everything delivered: the default neighbourhood and the explicit ones. */
  all: Set<string>;
  queue: GhostItem[];
}

export class ServerWatches {
  private readonly watching = new Map<ServerLink, Watching>();
  private scheduled = false;

  constructor(
    private readonly config: BridgeConfig,
    private readonly cache: AuthorityCache,
    private readonly links: ServerLinks,
    private readonly channels: AreaChannels,
  ) {
    channels.consume((items) => {
      for (const [link, w] of this.watching) {
        for (const item of items) {
          if (!w.all.has(item.area) || this.cache.areas.get(item.area)?.server === link.serverId) continue;
          w.queue.push({ area: item.area, server: this.cache.areas.get(item.area)?.server ?? '', epoch: item.epoch, data: item.data });
          this.schedule();
        }
      }
    });
    // Watches follow ownership: a server that gains or loses an area watches its new neighbourhood.
    cache.on('area', (_area, owner, prev) => {
      for (const link of this.watching.keys()) if (link.serverId === owner.server || link.serverId === prev) this.refresh(link);
    });
  }

  linked(link: ServerLink): void {
    this.watching.set(link, { explicit: new Set(), all: new Set(), queue: [] });
    this.refresh(link);
  }

  unlinked(link: ServerLink): void {
    const w = this.watching.get(link);
    if (!w) return;
    for (const area of w.all) this.channels.release(area, this.holder(link));
    this.watching.delete(link);
  }

  /** area:watch; refusals go to the server as `error`. */
  watch(link: ServerLink, areas: string[]): void {
    const w = this.watching.get(link);
    if (!w) return;
    const outside = areas.filter((a) => !isInGrid(a, this.config.worldCols, this.config.worldRows));
    if (outside.length > 0)
      return link.error(
        ErrorCode.BadInput,
        `area:watch: not in the ${this.config.worldCols}x${this.config.worldRows} grid: ${outside.join(' ')}`,
      );
    const next = new Set([...w.explicit, ...areas]);
    if (next.size > this.config.maxWatchedAreas) {
      return link.error(ErrorCode.BadInput, `area:watch: at most ${this.config.maxWatchedAreas} watched areas (maxWatchedAreas)`);
    }
    w.explicit = next;
    this.refresh(link);
  }

  unwatch(link: ServerLink, areas: string[]): void {
    const w = this.watching.get(link);
    if (!w) return;
    for (const a of areas) w.explicit.delete(a);
    this.refresh(link);
  }

  /** The areas a server watches now (its own excluded). */
  watched(server: string): string[] {
    const link = this.links.get(server);
    return link ? [...(this.watching.get(link)?.all ?? [])] : [];
  }

  private refresh(link: ServerLink): void {
    const w = this.watching.get(link);
    if (!w) return;
    const { worldCols: cols, worldRows: rows, ghostRadius } = this.config;
    const owned = this.cache.areasOf(link.serverId).map((a) => a.area);
    const next = new Set([...owned.flatMap((a) => neighbourhood(a, ghostRadius, cols, rows)), ...w.explicit]);
    for (const a of owned) if (!w.explicit.has(a)) next.delete(a);
    for (const a of next) if (!w.all.has(a)) this.channels.acquire(a, this.holder(link));
    for (const a of w.all) if (!next.has(a)) this.channels.release(a, this.holder(link));
    w.all = next;
  }

  private holder(link: ServerLink): string {
    return `ghosts:${link.serverId}:${link.epoch}`;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const [link, w] of this.watching) {
        if (w.queue.length === 0) continue;
        const batch = w.queue;
        w.queue = [];
        link.socket.emit('ghost', batch);
      }
    });
  }
}
