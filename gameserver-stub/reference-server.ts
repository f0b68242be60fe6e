// The reference dedicated server: simulates the areas it owns on a grid world. Players move by
// their inputs ({ dx, dy } in [-1, 1]) at `speed` units per input, kept inside their area; every
// tick it pushes each area's state with, per player, the last input seq it applied. The world has
// blocks: each area is four chunks of `chunkBytes` blocks that players place and mine as they act;
// changed chunks are uploaded (sync:put) and the other servers fetch them (see ./sdk-sync.ts).
import { parseArea } from '../shared/grid.js';
import { closeSync, openSync, writeSync } from 'node:fs';
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
  /** Appends every applied input here, with when; several servers may share one (tests). */
  journal?: JournalEntry[];
  /** Players may walk out of their area; crossing into another area hands them off (a warp gate). */
  roam?: boolean;
  /** Autosave period (ms); 0 turns it off. */
  snapshotMs?: number;
  /**
   * Appends every applied input and every attach to this file, unbuffered (a kill -9 loses no line):
   * `I <ms> <server> <player> <seq>`, `A <ms> <server> <player> <seq> <resync 0|1>` and `S <ms> <server> <dropped>`
   * (events dropped unapplied: they came while the lease was unconfirmed). The chaos
   * suite audits the whole mesh's journals with it.
   */
  journalFile?: string;
  /** A player places or mines a block every this many inputs (0: never). */
  editEvery?: number;
  /** Bytes (blocks) per chunk; an area has four chunks. */
  chunkBytes?: number;
  /** Where it tells what it syncs (one line each); silent when unset. */
  log?: (line: string) => void;
}

export interface JournalEntry {
  server: string;
  player: string;
  seq: number;
  at: number;
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

  private readonly moving = new Set<string>();
  private journalFd: number | undefined;
  private ticks = 0;
  /** The latest ghost of each neighbouring area owned elsewhere. */
  readonly ghosts = new Map<string, { server: string; tick?: number; players: { id: string; x: number; y: number }[] }>();
  /** Per player at a border: who across it is within reach, as the neighbour's owner answered by rpc. */
  readonly inReach = new Map<string, string[]>();
  /** Blocks of the chunks changed here since they were last uploaded (the rest are read from the sync's copy). */
  private readonly edited = new Map<string, Buffer>();
  /** What was synced since the last log line. */
  private synced = { uploaded: 0, uploadedBytes: 0, fetched: 0, fetchedBytes: 0 };

  constructor(readonly options: ReferenceServerOptions) {
    this.areaSize = options.areaSize ?? 100;
    this.speed = options.speed ?? 1;
    this.sdk = new GameServerClient(options);
    this.journalFd = options.journalFile ? openSync(options.journalFile, 'a') : undefined;
    this.sdk.hooks = {
      exportPlayer: (player) => this.positions.get(player) ?? null,
      exportArea: (area) => {
        const players: Record<string, unknown> = {};
        for (const [id, p] of this.sdk.players) if (p.area === area) players[id] = this.positions.get(id) ?? null;
        this.uploadEdits();
        return { state: { players: Object.keys(players).length, chunks: this.chunkRefs(area) }, players };
      },
      acceptPlayer: () => true,
      offer: () => ({ accept: true }),
      acceptArea: () => true,
    };
    this.sdk.on('attach', (a) => {
      this.writeJournal(`A ${now()} ${this.id} ${a.player} ${a.seq} ${a.resync ? 1 : 0}`);
      const saved = a.snapshot as Partial<SimPlayer> | null | undefined;
      if (saved && typeof saved.x === 'number' && typeof saved.y === 'number') this.positions.set(a.player, { x: saved.x, y: saved.y });
      else if (!this.positions.has(a.player)) this.positions.set(a.player, this.centreOf(a.area));
      this.keepInside(a.player, a.area);
    });
    this.sdk.on('detach', (d) => this.positions.delete(d.player));
    // Woken from a freeze with orders that may be stale: they were dropped unapplied (the SDK's lease gate).
    this.sdk.on('stale', (dropped) => {
      this.writeJournal(`S ${now()} ${this.id} ${dropped}`);
      this.options.log?.(`${this.id}: ${dropped} events arrived while the lease was unconfirmed; dropped, not applied`);
    });
    this.sdk.on('input', (player, seq, data) => this.apply(player, seq, data));
    this.sdk.on('area:assign', (a) => this.ghosts.delete(a.area));
    this.sdk.sync.on('chunk', (_id, c) => {
      this.synced.fetched++;
      this.synced.fetchedBytes += c.data.length;
    });
    this.sdk.sync.on('synced', (r) => this.options.log?.(`${this.id}: synced ${r.chunks} chunks (${kb(r.bytes)}) in ${r.ms} ms; ready`));
    this.sdk.on('ghost', (batch) => {
      for (const g of batch) {
        const data = g.data as { tick?: number; players?: { id: string; x: number; y: number }[] } | null;
        if (data && Array.isArray(data.players)) {
          this.ghosts.set(g.area, { server: g.server, ...(data.tick === undefined ? {} : { tick: data.tick }), players: data.players });
        }
      }
    });
    // "Another server as a thread": a neighbour asks who of ours is within `reach` of a point.
    this.sdk.handle('playersNear', (payload) => {
      const { x, y, reach } = payload as { x: number; y: number; reach: number };
      return [...this.positions].filter(([, p]) => Math.hypot(p.x - x, p.y - y) <= reach).map(([id, p]) => ({ id, x: p.x, y: p.y }));
    });
  }

  get id(): string {
    return this.options.serverId;
  }

  async start(): Promise<void> {
    await this.sdk.connect();
    await this.sdk.whenReady();
    if (!this.options.echo) this.timers.push(setInterval(() => this.tick(), 1000 / (this.options.tickHz ?? 10)));
    this.timers.push(setInterval(() => this.reportLoad(), this.options.loadIntervalMs ?? 1000));
    const snapshotMs = this.options.snapshotMs ?? 1000;
    if (snapshotMs > 0) this.timers.push(setInterval(() => this.autosave(), snapshotMs));
    this.timers.push(setInterval(() => this.logSynced(), 5000));
    this.reportLoad();
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.sdk.close();
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    this.journalFd = undefined;
  }

  private writeJournal(line: string): void {
    if (this.journalFd !== undefined) writeSync(this.journalFd, `${line}\n`);
  }

  /** Graceful shutdown: hand every area and player to the others, then stop. */
  async drainAndStop(): Promise<void> {
    await this.sdk.drain();
    this.stop();
  }

  /** Metrics per owned area; the bridge's load formula turns them into load. */
  reportLoad(): void {
    const areas: Record<string, { players: number }> = {};
    for (const area of this.sdk.areas.keys()) areas[area] = { players: 0 };
    for (const p of this.sdk.players.values()) {
      const a = areas[p.area];
      if (a) a.players++;
    }
    this.sdk.reportLoad({ areas });
  }

  /**
   * The seed's "autosave": changed chunks are uploaded, and area and player state saved for crash
   * recovery and the next join. An area's state refers to its chunks by id and version.
   */
  autosave(): void {
    this.uploadEdits();
    const areas: Record<string, unknown> = {};
    for (const area of this.sdk.areas.keys()) areas[area] = { players: 0, chunks: this.chunkRefs(area) };
    const players: Record<string, { snapshot: unknown; seq: number }> = {};
    for (const [id, p] of this.sdk.players) {
      const pos = this.positions.get(id);
      if (pos) players[id] = { snapshot: { ...pos }, seq: p.lastApplied };
      const a = areas[p.area] as { players: number } | undefined;
      if (a) a.players++;
    }
    this.sdk.snapshot({ areas, players });
  }

  private apply(player: string, seq: number, data: unknown): void {
    this.options.journal?.push({ server: this.id, player, seq, at: performance.now() });
    this.writeJournal(`I ${now()} ${this.id} ${player} ${seq}`);
    if (this.options.recordInputs) {
      const log = this.applied.get(player);
      if (log) log.push(seq);
      else this.applied.set(player, [seq]);
    }
    const pos = this.positions.get(player);
    const owned = this.sdk.players.get(player);
    if (pos && owned && typeof data === 'object' && data !== null) {
      const { dx, dy } = data as { dx?: unknown; dy?: unknown };
      if (typeof dx === 'number' && Number.isFinite(dx)) pos.x += clamp(dx, -1, 1) * this.speed;
      if (typeof dy === 'number' && Number.isFinite(dy)) pos.y += clamp(dy, -1, 1) * this.speed;
      if (this.options.roam) this.maybeCross(player, owned.area, pos);
      else this.keepInside(player, owned.area);
      const every = this.options.editEvery ?? (this.options.echo ? 0 : 25);
      if (every > 0 && seq % every === 0) this.editBlock(owned.area, pos);
    }
    if (this.options.echo) this.sdk.pushPlayer(player, { seq, data });
  }

  /** Walking into another area hands the player to that area's owner (maybe this server). */
  private maybeCross(player: string, area: string, pos: SimPlayer): void {
    const { cols, rows } = this.sdk.world;
    pos.x = clamp(pos.x, 0, cols * this.areaSize - 1e-6);
    pos.y = clamp(pos.y, 0, rows * this.areaSize - 1e-6);
    const next = `${Math.floor(pos.x / this.areaSize)},${Math.floor(pos.y / this.areaSize)}`;
    if (next === area || this.moving.has(player)) return;
    this.moving.add(player);
    this.sdk.handoff(player, next).then(
      (r) => { if (!r.ok) this.keepInside(player, area); },
      () => this.keepInside(player, area),
    ).finally(() => this.moving.delete(player));
  }

  private keepInside(player: string, area: string): void {
    const pos = this.positions.get(player);
    if (!pos) return;
    const [x0, y0] = this.originOf(area);
    pos.x = clamp(pos.x, x0, x0 + this.areaSize - 1e-6);
    pos.y = clamp(pos.y, y0, y0 + this.areaSize - 1e-6);
  }

  private tick(): void {
    this.ticks++;
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
      // `nearby`: the players of neighbouring areas owned elsewhere, from their ghosts (what a player at the border sees).
      const nearby = [...this.ghosts].filter(([a]) => adjacent(a, area)).flatMap(([a, g]) => g.players.map((p) => ({ ...p, area: a })));
      const reach = Object.fromEntries(players.filter((p) => this.inReach.has(p.id)).map((p) => [p.id, this.inReach.get(p.id)!]));
      this.sdk.pushArea(area, { tick: this.ticks, players, nearby, reach }, Object.fromEntries(players.map((p) => [p.id, p.seq])));
    }
    if (this.ticks % (this.options.tickHz ?? 10) === 0) this.askAcrossBorders();
  }

  /**
   * "Another server as a thread": once a second, for each player near the edge of its area, ask the
   * owner of the neighbouring area (known from its ghosts) who of its players is within reach.
   */
  private askAcrossBorders(): void {
    const reach = this.areaSize / 5;
    this.inReach.clear();
    for (const [id, p] of this.sdk.players) {
      const pos = this.positions.get(id);
      if (!pos) continue;
      for (const [area, ghost] of this.ghosts) {
        if (!adjacent(area, p.area)) continue;
        const [gx, gy] = this.originOf(area);
        const dx = Math.max(gx - pos.x, 0, pos.x - (gx + this.areaSize));
        const dy = Math.max(gy - pos.y, 0, pos.y - (gy + this.areaSize));
        if (Math.hypot(dx, dy) > reach) continue;
        this.sdk.call(ghost.server, 'playersNear', { x: pos.x, y: pos.y, reach }, 500).then(
          (found) => {
            if (Array.isArray(found) && found.length > 0) this.inReach.set(id, found.map((f) => (f as { id: string }).id));
          },
          () => {}, // the neighbour may be busy or gone: the next round asks again
        );
      }
    }
  }

  /** Places or mines the block under the player: chunk = the area's quarter it stands in, block = its cell there. */
  private editBlock(area: string, pos: SimPlayer): void {
    const [x0, y0] = this.originOf(area);
    const half = this.areaSize / 2;
    const [fx, fy] = [(pos.x - x0) / half, (pos.y - y0) / half];
    const id = `${area}/${Math.min(1, Math.floor(fx)) + 2 * Math.min(1, Math.floor(fy))}`;
    const size = this.options.chunkBytes ?? 1024;
    const side = Math.floor(Math.sqrt(size));
    const cell = Math.floor((fx % 1) * side) + side * Math.floor((fy % 1) * side);
    const blocks = this.edited.get(id) ?? Buffer.from(this.sdk.sync.chunks.get(id)?.data ?? Buffer.alloc(size));
    blocks[Math.min(cell, blocks.length - 1)]! ^= 1;
    this.edited.set(id, blocks);
  }

  private uploadEdits(): void {
    if (this.edited.size === 0) return;
    const edits = [...this.edited];
    this.edited.clear();
    for (const [id, blocks] of edits) {
      this.sdk.sync.put(id, blocks).then(
        (r) => {
          if (!r.ok) return this.options.log?.(`${this.id}: upload of ${id} refused: ${r.code} ${r.message}`);
          this.synced.uploaded++;
          this.synced.uploadedBytes += blocks.length;
        },
        () => {}, // disconnected: the edit is lost with the session; the next one starts from the store
      );
    }
  }

  /** The chunks of an area this server holds, by id and version (what its state refers to). */
  private chunkRefs(area: string): { id: string; version: number }[] {
    return [...this.sdk.sync.chunks].filter(([id]) => id.startsWith(`${area}/`)).map(([id, c]) => ({ id, version: c.version }));
  }

  private logSynced(): void {
    const s = this.synced;
    if (s.uploaded + s.fetched === 0) return;
    this.options.log?.(`${this.id}: world sync in the last 5 s: uploaded ${s.uploaded} changed chunks (${kb(s.uploadedBytes)}), ` +
      `fetched ${s.fetched} from other servers (${kb(s.fetchedBytes)}); holds ${this.sdk.sync.chunks.size}`);
    this.synced = { uploaded: 0, uploadedBytes: 0, fetched: 0, fetchedBytes: 0 };
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

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
/** Wall-clock ms with µs resolution, comparable across processes. */
const now = () => (performance.timeOrigin + performance.now()).toFixed(3);

/** Chebyshev distance 1 between two "col,row" areas. */
function adjacent(a: string, b: string): boolean {
  const [pa, pb] = [parseArea(a), parseArea(b)];
  return a !== b && pa !== undefined && pb !== undefined && Math.abs(pa[0] - pb[0]) <= 1 && Math.abs(pa[1] - pb[1]) <= 1;
}
