// An open dashboard draws every area's players, so while one polls this node (and 10 s after its
// last poll) the node listens to every area of the grid, as one more holder of interest.
import type { BridgeConfig } from '../../shared/config.js';
import type { AreaChannels } from './area-channels.js';

const HOLDER = 'dashboard';

export class DashboardInterest {
  private timer: NodeJS.Timeout | undefined;
  private held: string[] = [];

  constructor(
    private readonly channels: AreaChannels,
    private readonly config: BridgeConfig,
    private readonly lingerMs = 10_000,
  ) {}

  /** A dashboard polled: hold every area (if not yet), until `lingerMs` after the last poll. */
  touch(): void {
    if (this.held.length === 0) {
      for (let c = 0; c < this.config.worldCols; c++) for (let r = 0; r < this.config.worldRows; r++) this.held.push(`${c},${r}`);
      for (const area of this.held) this.channels.acquire(area, HOLDER);
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.release(), this.lingerMs);
    this.timer.unref();
  }

  release(): void {
    clearTimeout(this.timer);
    for (const area of this.held) this.channels.release(area, HOLDER);
    this.held = [];
  }
}
