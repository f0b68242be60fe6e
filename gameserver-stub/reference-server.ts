// The reference dedicated server: simulates the areas it owns on a grid world. Players move by
// their inputs ({ dx, dy } in [-1, 1]) at `speed` units per input, kept inside their area; every
// tick it pushes each area's state with, per player, the last input seq it applied.
import { GameServerClient, type GameServerOptions } from './sdk.js';

export interface ReferenceServerOptions extends GameServerOptions {
  tickHz?: number;
  /** Side of one square area in world units. */
  areaSize?: number;
  speed?: number;
  /** Echo mode (benchmarks): answer every input at once with player state instead of ticking. */
  echo?: boolean;
  loadIntervalMs?: number;
  /** Keep every applied seq per player (tests check exactly-once, in-order delivery with it). */
  recordInputs?: boolean;
}

export interface SimPlayer {
  x: number;
  y: number;
}

export class ReferenceServer {
  readonly sdk: GameServerClient;
  readonly positions = new Map<string, SimPlayer>();
  readonly applied = new Map<string, number[]>();
  private timers: NodeJS.Timeout[] = [];
  private readonly areaSize: number;
  private readonly speed: number;

  constructor(readonly options: ReferenceServerOptions) {
    this.areaSize = options.areaSize ?? 100;
    this.speed = options.speed ?? 1;
    this.sdk = new GameServerClient(options);
    this.sdk.on('attach', (a) => {
      if (!this.positions.has(a.player)) this.positions.set(a.player, this.centreOf(a.area));
    });
    this.sdk.on('detach', (d) => this.positions.delete(d.player));
    this.sdk.on('input', (player, seq, data) => this.apply(player, seq, data));
  }

  get id(): string {
    return this.options.serverId;
  }

  async start(): Promise<void> {
    await this.sdk.connect();
    if (!this.options.echo) this.timers.push(setInterval(() => this.tick(), 1000 / (this.options.tickHz ?? 10)));
    this.timers.push(setInterval(() => this.sdk.reportLoad(this.load()), this.options.loadIntervalMs ?? 1000));
    this.sdk.reportLoad(this.load());
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.sdk.close();
  }

  /** Load heuristic: players simulated (the mesh issue makes the formula configurable). */
  load(): number {
    return this.sdk.players.size;
  }

  private apply(player: string, seq: number, data: unknown): void {
    if (this.options.recordInputs) {
      const log = this.applied.get(player);
      if (log) log.push(seq);
      else this.applied.set(player, [seq]);
    }
    const pos = this.positions.get(player);
    const owned = this.sdk.players.get(player);
    if (pos && owned && typeof data === 'object' && data !== null) {
      const { dx, dy } = data as { dx?: unknown; dy?: unknown };
      const [x0, y0] = this.originOf(owned.area);
      if (typeof dx === 'number' && Number.isFinite(dx)) pos.x = clamp(pos.x + clamp(dx, -1, 1) * this.speed, x0, x0 + this.areaSize - 1e-6);
      if (typeof dy === 'number' && Number.isFinite(dy)) pos.y = clamp(pos.y + clamp(dy, -1, 1) * this.speed, y0, y0 + this.areaSize - 1e-6);
    }
    if (this.options.echo) this.sdk.pushPlayer(player, { seq, data });
  }

  private tick(): void {
    const byArea = new Map<string, { id: string; x: number; y: number; seq: number }[]>();
    for (const [id, p] of this.sdk.players) {
      const pos = this.positions.get(id);
      if (!pos) continue;
      const row = { id, x: pos.x, y: pos.y, seq: p.lastApplied };
      const list = byArea.get(p.area);
      if (list) list.push(row);
      else byArea.set(p.area, [row]);
    }
    for (const area of this.sdk.areas.keys()) {
      const players = byArea.get(area) ?? [];
      this.sdk.pushArea(area, { players }, Object.fromEntries(players.map((p) => [p.id, p.seq])));
    }
  }

  private originOf(area: string): [number, number] {
    const [c, r] = area.split(',').map(Number);
    return [(c ?? 0) * this.areaSize, (r ?? 0) * this.areaSize];
  }

  private centreOf(area: string): SimPlayer {
    const [x, y] = this.originOf(area);
    return { x: x + this.areaSize / 2, y: y + this.areaSize / 2 };
  }
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
