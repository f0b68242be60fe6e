// The latest ownership changes this node saw (from the announcements), for the listing and the
// dashboard: who moved from which server to which, and why.
import type { AuthorityCache } from '../authority/authority-cache.js';

export interface RecentChange {
  at: number;
  kind: 'area' | 'player';
  id: string;
  from: string;
  to: string;
  reason: string;
}

export class RecentChanges {
  private readonly changes: RecentChange[] = [];

  constructor(cache: AuthorityCache, private readonly keep = 20) {
    cache.on('player', (player, rec, prev, change) => {
      if (change && prev?.server && rec.server && prev.server !== rec.server) {
        this.add({ kind: 'player', id: player, from: prev.server, to: rec.server, reason: change.reason ?? '' });
      }
    });
    cache.on('area', (area, owner, prev) => {
      if (prev && prev !== owner.server) this.add({ kind: 'area', id: area, from: prev, to: owner.server, reason: 'moved' });
    });
  }

  /** Newest first. */
  list(): RecentChange[] {
    return [...this.changes].reverse();
  }

  private add(c: Omit<RecentChange, 'at'>): void {
    this.changes.push({ at: Date.now(), ...c });
    if (this.changes.length > this.keep) this.changes.shift();
  }
}
