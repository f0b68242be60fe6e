// Game-server SDK: what a Node dedicated server needs to join a Meshbridge network. It registers
// with the network secret, tracks the areas and players it owns (with their epochs), hands the
// game each input exactly once and in order, batches state per event-loop turn, and reports load.
import { EventEmitter } from 'node:events';
import { io, type Socket } from 'socket.io-client';
import {
  PROTOCOL_VERSION, SERVER_NAMESPACE,
  type AreaExport, type AreaGrant, type AreaOffer, type BridgeToServerEvents, type ErrorPayload, type HandoffResult, type LoadReport,
  type OfferReply, type PlayerAttach, type PlayerDetach, type PresencePayload, type ServerToBridgeEvents, type Snapshot,
  type StateItem, type WelcomePayload,
} from '../shared/protocol.js';

export interface GameServerOptions {
  /** Bridge base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  serverId: string;
  secret: string;
  power: number;
}

export interface OwnedPlayer {
  area: string;
  epoch: number;
  /** Last input seq applied; the bridge delivers lastApplied + 1 next. */
  lastApplied: number;
}

/**
 * What the game decides; the SDK does the protocol around it. Defaults: accept every offer and
 * import, export no state.
 */
export interface GameHooks {
  /** A player leaves for another server: its state (the SDK adds the last applied seq). */
  exportPlayer(player: string): unknown;
  /** An area leaves: its state, and each of its players' state. */
  exportArea(area: string): { state: unknown; players: Record<string, unknown> };
  /** Would this server take a player (about to arrive, with this state)? */
  acceptPlayer(player: string, area: string, snapshot: unknown): boolean;
  /** Would this server take an area? `priority` if it wants it more than others (e.g. a neighbour). */
  offer(offer: AreaOffer): OfferReply;
  acceptArea(area: string, state: unknown): boolean;
}

interface SdkEvents {
  welcome: [WelcomePayload];
  input: [player: string, seq: number, data: unknown];
  /** The player is yours; `snapshot` is its state when it comes from elsewhere or from a save. */
  attach: [PlayerAttach];
  detach: [PlayerDetach];
  /** The area is yours; `state` is what the previous owner (or its last save) handed over. */
  'area:assign': [AreaGrant & { state?: unknown }];
  'area:release': [AreaGrant];
  /** An export was not followed by the move: the player or area stays yours. */
  'player:resume': [player: string];
  'area:resume': [area: string];
  presence: [PresencePayload];
  drained: [];
  /** The bridge refused something (not Node's 'error': a game without a listener must not crash). */
  'bridge-error': [ErrorPayload];
  disconnect: [reason: string];
}

const IMPORT_TTL_MS = 30_000;

export class GameServerClient extends EventEmitter<SdkEvents> {
  readonly areas = new Map<string, number>();
  readonly players = new Map<string, OwnedPlayer>();
  epoch = 0;
  world = { cols: 0, rows: 0 };
  hooks: GameHooks = {
    exportPlayer: () => null,
    exportArea: () => ({ state: null, players: {} }),
    acceptPlayer: () => true,
    offer: () => ({ accept: true }),
    acceptArea: () => true,
  };
  private readonly socket: Socket<BridgeToServerEvents, ServerToBridgeEvents>;
  private queue: StateItem[] = [];
  private scheduled = false;
  /** State handed over ahead of the attach/assign that makes it ours; dropped if that never comes. */
  private readonly incoming = new Map<string, { state: unknown; expires: number }>();

  constructor(readonly options: GameServerOptions) {
    super();
    this.socket = io(`${options.url}${SERVER_NAMESPACE}`, {
      transports: ['websocket'],
      forceNew: true,
      autoConnect: false,
      reconnectionDelay: 200,
      reconnectionDelayMax: 2000,
      // Evaluated on every (re)connect: tells the bridge which players we already simulate.
      auth: (cb) => cb({
        serverId: options.serverId, secret: options.secret, power: options.power, protocol: PROTOCOL_VERSION,
        ...(this.epoch > 0 ? { epoch: this.epoch, players: Object.fromEntries([...this.players].map(([id, p]) => [id, p.lastApplied])) } : {}),
      }),
    });
    this.socket.on('welcome', (w) => {
      this.epoch = w.epoch;
      this.world = w.world;
      this.areas.clear();
      for (const a of w.areas) this.areas.set(a.area, a.epoch);
      const owned = new Set(w.players);
      for (const player of [...this.players.keys()]) {
        if (!owned.has(player)) {
          this.players.delete(player);
          this.emit('detach', { player, reason: 'moved' });
        }
      }
      this.emit('welcome', w);
    });
    this.socket.on('connect_error', (err: Error & { data?: { code?: string } }) => {
      // Declared dead while away: what we hold is stale. Start afresh as a new session.
      if (err.data?.code !== 'FENCED') return;
      for (const player of [...this.players.keys()]) this.emit('detach', { player, reason: 'moved' });
      this.players.clear();
      this.areas.clear();
      this.epoch = 0;
      this.socket.connect();
    });
    this.socket.on('inputs', (batch) => {
      for (const { player, seq, data } of batch) {
        const p = this.players.get(player);
        if (!p || seq <= p.lastApplied) continue; // defence in depth: the bridge already dedupes
        p.lastApplied = seq;
        this.emit('input', player, seq, data);
      }
    });
    this.socket.on('player:attach', (a) => {
      const handed = this.take(`p:${a.player}`);
      this.players.set(a.player, { area: a.area, epoch: a.epoch, lastApplied: a.seq });
      this.emit('attach', handed === undefined ? a : { ...a, snapshot: handed });
    });
    this.socket.on('player:detach', (d) => {
      if (this.players.delete(d.player)) this.emit('detach', d);
    });
    this.socket.on('area:assign', (a) => {
      this.areas.set(a.area, a.epoch);
      const state = this.take(`a:${a.area}`);
      this.emit('area:assign', state === undefined ? a : { ...a, state });
    });
    this.socket.on('area:release', (a) => {
      this.areas.delete(a.area);
      this.emit('area:release', a);
    });
    this.socket.on('player:export', ({ player }, ack) => {
      ack({ snapshot: this.hooks.exportPlayer(player) ?? null, seq: this.players.get(player)?.lastApplied ?? 0 });
    });
    this.socket.on('player:import', ({ player, area, snapshot }, ack) => {
      const ok = this.hooks.acceptPlayer(player, area, snapshot);
      if (ok) this.hold(`p:${player}`, snapshot);
      ack({ ok });
    });
    this.socket.on('area:offer', (offer, ack) => ack(this.hooks.offer(offer)));
    this.socket.on('area:export', ({ area }, ack) => {
      const out = this.hooks.exportArea(area);
      const players: AreaExport['players'] = {};
      for (const [id, p] of this.players) {
        if (p.area === area) players[id] = { snapshot: out.players[id] ?? null, seq: p.lastApplied };
      }
      ack({ state: out.state ?? null, players });
    });
    this.socket.on('area:import', ({ area, state, players }, ack) => {
      const ok = this.hooks.acceptArea(area, state);
      if (ok) {
        this.hold(`a:${area}`, state);
        for (const [id, p] of Object.entries(players)) this.hold(`p:${id}`, p.snapshot);
      }
      ack({ ok });
    });
    this.socket.on('player:resume', ({ player }) => this.emit('player:resume', player));
    this.socket.on('area:resume', ({ area }) => this.emit('area:resume', area));
    this.socket.on('presence', (p) => this.emit('presence', p));
    this.socket.on('drained', () => this.emit('drained'));
    this.socket.on('error', (e) => {
      // A newer registration of this server id fenced us: reconnecting would fence it in turn.
      if (e.code === 'SESSION_REPLACED') this.socket.io.reconnection(false);
      this.emit('bridge-error', e);
    });
    this.socket.on('disconnect', (reason) => this.emit('disconnect', reason));
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /**
   * Connects and resolves with the welcome; rejects with the bridge's refusal (err.data.code).
   * A FENCED refusal is not final: the SDK drops its stale state and registers afresh.
   */
  connect(): Promise<WelcomePayload> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error & { data?: { code?: string } }) => {
        if (err.data?.code === 'FENCED') return;
        this.socket.off('connect_error', onError);
        this.socket.off('welcome', onWelcome);
        this.socket.disconnect();
        reject(err);
      };
      const onWelcome = (w: WelcomePayload) => {
        this.socket.off('connect_error', onError);
        resolve(w);
      };
      this.socket.on('connect_error', onError);
      this.socket.once('welcome', onWelcome);
      this.socket.connect();
    });
  }

  /** State for everyone in an owned area, stamped with the area's epoch. */
  pushArea(area: string, data: unknown, acks?: Record<string, number>): void {
    const epoch = this.areas.get(area);
    if (epoch === undefined) return;
    this.push(acks ? { kind: 'area', area, epoch, data, acks } : { kind: 'area', area, epoch, data });
  }

  /** State for one owned player; carries its ack (last applied input seq). */
  pushPlayer(player: string, data: unknown): void {
    const p = this.players.get(player);
    if (!p) return;
    this.push({ kind: 'player', player, epoch: p.epoch, data, acks: { [player]: p.lastApplied } });
  }

  pushAll(data: unknown): void {
    this.push({ kind: 'all', data });
  }

  /** Queues an item; the queue goes out as one `state` batch per event-loop turn. */
  push(item: StateItem): void {
    this.queue.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0 || !this.socket.connected) return;
    // What moved away since it was queued would only be refused (NOT_OWNER / STALE_EPOCH).
    const items = this.queue.filter((i) => (i.kind === 'area' ? this.areas.get(i.area) === i.epoch : i.kind === 'player' ? this.players.get(i.player)?.epoch === i.epoch : true));
    this.queue = [];
    for (let i = 0; i < items.length; i += 1024) this.socket.emit('state', items.slice(i, i + 1024));
  }

  /** Sends a batch at once and as is, even items the bridge will refuse (tests act as a faulty server with it). */
  pushUnchecked(items: StateItem[]): void {
    this.socket.emit('state', items);
  }

  /** Reports load (directly, or as metrics per area for the bridge's formula); renews the lease. */
  reportLoad(report: LoadReport): void {
    if (this.socket.connected) this.socket.emit('load', report);
  }

  /** Autosave: the state of owned areas and players, kept by the bridge for recovery and rejoin. */
  snapshot(s: Snapshot): void {
    if (this.socket.connected) this.socket.emit('snapshot', s);
  }

  /** Moves an owned player to `area` (a warp gate); resolves when it is done or rolled back. */
  async handoff(player: string, area: string): Promise<HandoffResult> {
    this.flush();
    return this.socket.timeout(10_000).emitWithAck('handoff', { player, area });
  }

  /** Graceful shutdown: resolves once every area and player has moved away and we are deregistered. */
  async drain(timeoutMs = 60_000): Promise<void> {
    const drained = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not drained within ${timeoutMs} ms`)), timeoutMs);
      this.once('drained', () => { clearTimeout(timer); resolve(); });
    });
    const { ok } = await this.socket.timeout(5000).emitWithAck('drain');
    if (!ok) throw new Error('the bridge did not accept the drain');
    await drained;
  }

  private hold(key: string, state: unknown): void {
    const now = Date.now();
    for (const [k, v] of this.incoming) if (v.expires < now) this.incoming.delete(k);
    this.incoming.set(key, { state, expires: now + IMPORT_TTL_MS });
  }

  private take(key: string): unknown {
    const v = this.incoming.get(key);
    this.incoming.delete(key);
    return v?.state;
  }

  close(): void {
    this.flush();
    this.socket.disconnect();
  }
}
