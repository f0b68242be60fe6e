// What a client sees: the area state of every area within `interestRadius` of its own (Chebyshev
// distance), whichever server owns each. Its socket is in one room per area of that set, and the
// node holds an interest in each (so it listens to exactly the channels its clients need). When
// the client's area changes the set follows at once: the new areas are joined before the old ones
// are left, so a neighbour that becomes the own area is never dropped in between.
import type { BridgeConfig } from '../../shared/config.js';
import { neighbourhood } from '../../shared/grid.js';
import type { ClientSession } from '../sessions/client-session.js';
import type { AreaChannels } from './area-channels.js';

export const areaRoom = (area: string): string => `area:${area}`;
const HOLDER = 'clients';

export class ClientInterest {
  constructor(
    private readonly channels: AreaChannels,
    private readonly config: BridgeConfig,
  ) {}

  /** The areas a client in `area` sees. */
  of(area: string): string[] {
    return neighbourhood(area, this.config.interestRadius, this.config.worldCols, this.config.worldRows);
  }

  enter(s: ClientSession): void {
    this.follow(s, this.of(s.area));
  }

  /** The session's area changed: its interest set follows. */
  moved(s: ClientSession): void {
    this.follow(s, this.of(s.area));
  }

  leave(s: ClientSession): void {
    this.follow(s, []);
  }

  private follow(s: ClientSession, next: string[]): void {
    const before = new Set(s.interest);
    const after = new Set(next);
    for (const area of after) {
      if (before.has(area)) continue;
      this.channels.acquire(area, HOLDER);
      void s.socket.join(areaRoom(area));
    }
    for (const area of before) {
      if (after.has(area)) continue;
      this.channels.release(area, HOLDER);
      void s.socket.leave(areaRoom(area));
    }
    s.interest = next;
  }
}
