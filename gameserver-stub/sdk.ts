// Game-server SDK: what a Node dedicated server needs to join a Meshbridge network. It registers
// with the network secret, tracks the areas and players it owns (with their epochs), hands the
// game each input exactly once and in order, batches state per event-loop turn, and reports load.
import { EventEmitter } from 'node:events';
import { io, type Socket } from 'socket.io-client';
import {
  ErrorCode, PROTOCOL_VERSION, SERVER_NAMESPACE,
  type AreaExport, type DrainReply, type AreaGrant, type AreaOffer, type BridgeToServerEvents, type ErrorPayload, type HandoffResult,
  type LoadReport, type GhostItem, type ServerMessageDelivery, type RpcResult, RPC_DEFAULT_TIMEOUT_MS,
  type OfferReply, type PlayerAttach, type PlayerDetach, type PresencePayload, type ServerToBridgeEvents, type Snapshot,
  type StateItem, type WelcomePayload, type ChatReply, type ChatSendReply,
} from '../shared/protocol-core.js';
import { LeaseGate } from './sdk-lease.js';
import { WorldSyncClient, type WorldSyncOptions } from './sdk-sync.js';
import * as parser from 'socket.io-parser';

/**
 * socket.io-parser refuses packets with more than 10 binary attachments by default; a sync:get
 * reply carries one per chunk (up to the bridge's maxSyncIds).
 */
const SYNC_PARSER = {
  ...parser,
  Decoder: class extends parser.Decoder {
    constructor() {
      super({ maxAttachments: 10_000 });
    }
  },
};

export interface GameServerOptions {
  /** Bridge base URL, e.g. http://127.0.0.1:8080, or several to fail over between (in order). */
  url: string | string[];
  serverId: string;
  secret: string;
  power: number;
  /** World sync (chunks): batch sizes and when to skip announcements. */
  sync?: WorldSyncOptions;
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
  /** A handshake was refused (err.data.code says why); the SDK retries unless the code is final. */
  refused: [Error & { data?: { code?: string } }];
  disconnect: [reason: string];
  /**
   * Events that arrived while this server's lease was unconfirmed (it was frozen, or its node was) were dropped,
   * never applied, with the connection that brought them: the bridge re-sends what is still ours.
   */
  stale: [dropped: number];
  /** Read-only state of areas you watch (owned by other servers). */
  ghost: [GhostItem[]];
  /** A one-way message from another server. */
  message: [ServerMessageDelivery];
  /** This server takes work: registered as ready, or synced after a fresh registration. */
  ready: [];
}

/** Answers another server's call: the value is `result`; a throw (or rejection) is sent as `error`. */
export type RpcHandler = (payload: unknown, from: string) => unknown;

/** A failed call: `code` is NO_SERVER, TIMEOUT, REMOTE_ERROR, BAD_INPUT or RATE_LIMITED (chat: BAD_CHANNEL, CHAT_TOO_LONG). */
export class RpcError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Refusals that no retry can cure: the SDK stops and connect() rejects. */
const FINAL_REFUSALS = new Set<string>([ErrorCode.BadSecret, ErrorCode.ProtocolMismatch, ErrorCode.BadHandshake]);

const IMPORT_TTL_MS = 30_000;

export class GameServerClient extends EventEmitter<SdkEvents> {
  readonly areas = new Map<string, number>();
  readonly players = new Map<string, OwnedPlayer>();
  epoch = 0;
  world = { cols: 0, rows: 0 };
  /** `syncing` after a fresh registration until the world's chunks are fetched; then `ready`. */
  status: 'syncing' | 'ready' | 'offline' = 'offline';
  /** The world's chunks this server holds; uploads and fetches (see ./sdk-sync.ts). */
  readonly sync: WorldSyncClient;
  hooks: GameHooks = {
    exportPlayer: () => null,
    exportArea: () => ({ state: null, players: {} }),
    acceptPlayer: () => true,
    offer: () => ({ accept: true }),
    acceptArea: () => true,
  };
  private socket: Socket<BridgeToServerEvents, ServerToBridgeEvents>;
  private readonly urls: string[];
  private urlIndex = 0;
  private attempts = 0;
  /** No more reconnecting: closed, drained, replaced by a newer registration, or refused for good. */
  private stopped = false;
  private queue: StateItem[] = [];
  private scheduled = false;
  /** State handed over ahead of the attach/assign that makes it ours; dropped if that never comes. */
  private readonly incoming = new Map<string, { state: unknown; expires: number }>();
  private readonly rpcHandlers = new Map<string, RpcHandler>();
  private readonly watching = new Set<string>();
  /** What the bridge sends is acted on only while our lease is confirmed (see ./sdk-lease.ts). */
  private readonly gate = new LeaseGate((answer) => {
    if (!this.socket.connected) return; // reset with the connection
    this.socket.timeout(2000).emit('lease', (err: Error | null, reply?: { ms?: unknown }) =>
      answer(!err && typeof reply?.ms === 'number' ? reply.ms : undefined));
  });
  /** When the current connection's registration was sent (performance.now()): the lease it got counts from then. */
  private registrationSentAt = 0;

  constructor(readonly options: GameServerOptions) {
    super();
    this.urls = Array.isArray(options.url) ? options.url : [options.url];
    this.sync = new WorldSyncClient(options.sync);
    this.sync.on('synced', () => {
      this.status = 'ready';
      this.emit('ready');
    });
    this.socket = this.open();
  }

  /**
   * One connection attempt to the current URL. Reconnecting is ours, not socket.io-client's: it
   * moves to the next URL, retries refusals that can pass (NOT_READY, INTERNAL, FENCED: then
   * afresh) and comes back after the bridge closed the connection (FENCED sent as an error).
   */
  private open(): Socket<BridgeToServerEvents, ServerToBridgeEvents> {
    const { options } = this;
    const socket: Socket<BridgeToServerEvents, ServerToBridgeEvents> = io(
      `${this.urls[this.urlIndex % this.urls.length]!}${SERVER_NAMESPACE}`,
      {
        transports: ['websocket'],
        forceNew: true,
        autoConnect: false,
        reconnection: false,
        parser: SYNC_PARSER,
        // Evaluated at connect: tells the bridge which players we already simulate.
        auth: (cb) => {
          this.registrationSentAt = performance.now();
          cb({
            serverId: options.serverId,
            secret: options.secret,
            power: options.power,
            protocol: PROTOCOL_VERSION,
            ...(this.epoch > 0
              ? { epoch: this.epoch, players: Object.fromEntries([...this.players].map(([id, p]) => [id, p.lastApplied])) }
              : {}),
          });
        },
      },
    );
    this.sync.bind(socket);
    // Every event that acts on the game waits behind the lease gate, in arrival order.
    const gated = <E extends keyof BridgeToServerEvents>(event: E, handler: BridgeToServerEvents[E]) =>
      (socket.on as (e: string, h: (...args: unknown[]) => void) => void)(event, (...args) =>
        this.gate.run(() => (handler as (...a: unknown[]) => void)(...args)));
    socket.on('welcome', (w) => {
      this.attempts = 0;
      this.gate.reset();
      this.gate.confirmed(this.registrationSentAt, w.confirmMs);
      this.epoch = w.epoch;
      this.status = w.status;
      this.sync.welcomed(w.status);
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
      if (this.watching.size > 0) socket.emit('area:watch', { areas: [...this.watching] });
      this.emit('welcome', w);
      if (w.status === 'ready') this.emit('ready');
    });
    socket.on('connect_error', (err: Error & { data?: { code?: string } }) => {
      const code = err.data?.code ?? '';
      if (code === ErrorCode.Fenced) this.forget();
      this.emit('refused', err);
      if (FINAL_REFUSALS.has(code)) this.stopped = true;
      this.retry();
    });
    gated('inputs', (batch) => {
      for (const { player, seq, data } of batch) {
        const p = this.players.get(player);
        if (!p || seq <= p.lastApplied) continue; // defence in depth: the bridge already dedupes
        p.lastApplied = seq;
        this.emit('input', player, seq, data);
      }
    });
    gated('player:attach', (a) => {
      const handed = this.take(`p:${a.player}`);
      this.players.set(a.player, { area: a.area, epoch: a.epoch, lastApplied: a.seq });
      this.emit('attach', handed === undefined ? a : { ...a, snapshot: handed });
    });
    gated('player:detach', (d) => {
      if (this.players.delete(d.player)) this.emit('detach', d);
    });
    gated('area:assign', (a) => {
      this.areas.set(a.area, a.epoch);
      const state = this.take(`a:${a.area}`);
      this.emit('area:assign', state === undefined ? a : { ...a, state });
    });
    gated('area:release', (a) => {
      this.areas.delete(a.area);
      this.emit('area:release', a);
    });
    gated('player:export', ({ player }, ack) => {
      ack({ snapshot: this.hooks.exportPlayer(player) ?? null, seq: this.players.get(player)?.lastApplied ?? 0 });
    });
    gated('player:import', ({ player, area, snapshot }, ack) => {
      const ok = this.hooks.acceptPlayer(player, area, snapshot);
      if (ok) this.hold(`p:${player}`, snapshot);
      ack({ ok });
    });
    gated('area:offer', (offer, ack) => ack(this.hooks.offer(offer)));
    gated('area:export', ({ area }, ack) => {
      const out = this.hooks.exportArea(area);
      const players: AreaExport['players'] = {};
      for (const [id, p] of this.players) {
        if (p.area === area) players[id] = { snapshot: out.players[id] ?? null, seq: p.lastApplied };
      }
      ack({ state: out.state ?? null, players });
    });
    gated('area:import', ({ area, state, players, chunks }, ack) => {
      const ok = this.hooks.acceptArea(area, state);
      if (ok) {
        for (const c of chunks ?? []) this.sync.adopt(c.id, c.version, c.hash, Buffer.from(c.data));
        this.hold(`a:${area}`, state);
        for (const [id, p] of Object.entries(players)) this.hold(`p:${id}`, p.snapshot);
      }
      ack({ ok });
    });
    gated('player:resume', ({ player }) => this.emit('player:resume', player));
    gated('area:resume', ({ area }) => this.emit('area:resume', area));
    gated('presence', (p) => this.emit('presence', p));
    gated('ghost', (batch) => this.emit('ghost', batch));
    gated('message', (m) => this.emit('message', m));
    gated('rpc', ({ from, method, payload }, ack) => {
      const handler = this.rpcHandlers.get(method);
      if (!handler) return ack({ error: `no handler for ${method}` });
      Promise.resolve().then(() => handler(payload, from)).then(
        (result) => ack({ result: result ?? null }),
        (err: unknown) => ack({ error: err instanceof Error ? err.message : String(err) }),
      );
    });
    socket.on('drained', () => {
      this.stopped = true;
      this.emit('drained');
    });
    socket.on('error', (e) => {
      // A newer registration of this server id replaced us: reconnecting would fence it in turn.
      if (e.code === ErrorCode.SessionReplaced) this.stopped = true;
      // Declared dead (or no longer current): what we hold is stale; the next registration is afresh.
      if (e.code === ErrorCode.Fenced) {
        this.dropHeld();
        this.forget();
      }
      this.emit('bridge-error', e);
    });
    socket.on('disconnect', (reason) => {
      this.status = 'offline';
      this.dropHeld();
      this.emit('disconnect', reason);
      if (reason !== 'io client disconnect') this.retry();
    });
    return socket;
  }

  private dropHeld(): void {
    const dropped = this.gate.reset();
    if (dropped > 0) this.emit('stale', dropped);
  }

  /** Drops everything held: the next registration starts afresh (no epoch, no players). */
  private forget(): void {
    for (const player of [...this.players.keys()]) this.emit('detach', { player, reason: 'moved' });
    this.players.clear();
    this.areas.clear();
    this.epoch = 0;
  }

  private retry(): void {
    this.socket.removeAllListeners();
    this.socket.disconnect();
    if (this.stopped) return;
    this.urlIndex++;
    const delay = Math.min(2000, 100 * 2 ** this.attempts++) * (0.5 + Math.random() / 2);
    setTimeout(() => {
      if (this.stopped) return;
      this.socket = this.open();
      this.socket.connect();
    }, delay);
  }

  /** Events received and not acted on yet: they wait for the bridge to confirm this server's lease. */
  get heldEvents(): number {
    return this.gate.holding;
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /**
   * Connects and resolves with the first welcome; rejects with a final refusal (BAD_SECRET,
   * PROTOCOL_MISMATCH, BAD_HANDSHAKE in err.data.code). Anything else is retried, over the URLs.
   */
  connect(): Promise<WelcomePayload> {
    return new Promise((resolve, reject) => {
      const onRefused = (err: Error & { data?: { code?: string } }) => {
        if (!FINAL_REFUSALS.has(err.data?.code ?? '')) return;
        this.off('refused', onRefused);
        this.off('welcome', onWelcome);
        reject(err);
      };
      const onWelcome = (w: WelcomePayload) => {
        this.off('refused', onRefused);
        resolve(w);
      };
      this.on('refused', onRefused);
      this.once('welcome', onWelcome);
      this.stopped = false;
      this.socket.connect();
    });
  }

  /** Resolves once this server takes work (`ready`): at once, or when its sync after registration is done. */
  whenReady(): Promise<void> {
    return this.status === 'ready' ? Promise.resolve() : new Promise((resolve) => this.once('ready', resolve));
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
    // What moved away since it was queued would only be refused (NOT_OWNER / STALE_EPOCH): the item,
    // or the acks an area item carries for players that left this server meanwhile.
    const items = this.queue.filter((i) =>
      i.kind === 'area' ? this.areas.get(i.area) === i.epoch : i.kind === 'player' ? this.players.get(i.player)?.epoch === i.epoch : true,
    ).map((i) => (i.kind === 'area' && i.acks ? this.ownAcks(i) : i));
    this.queue = [];
    for (let i = 0; i < items.length; i += 1024) this.socket.emit('state', items.slice(i, i + 1024));
  }

  /** The item as is when it acknowledges only players this server owns, else a copy without the others. */
  private ownAcks(item: Extract<StateItem, { kind: 'area' }>): StateItem {
    const acks = item.acks!;
    const owned = (player: string) => this.players.has(player);
    if (Object.keys(acks).every(owned)) return item;
    return { ...item, acks: Object.fromEntries(Object.entries(acks).filter(([player]) => owned(player))) };
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
  /** Receive ghosts of these areas too (beyond the neighbourhood of yours); kept across reconnects. */
  watch(areas: string[]): void {
    for (const a of areas) this.watching.add(a);
    if (this.socket.connected) this.socket.emit('area:watch', { areas });
  }

  unwatch(areas: string[]): void {
    for (const a of areas) this.watching.delete(a);
    if (this.socket.connected) this.socket.emit('area:unwatch', { areas });
  }

  /** Calls `method` on server `to`; rejects with an RpcError (err.code) when it cannot. */
  async call(to: string, method: string, payload?: unknown, timeoutMs?: number): Promise<unknown> {
    const req = { to, method, payload, ...(timeoutMs === undefined ? {} : { timeoutMs }) };
    const r = (await this.socket.timeout((timeoutMs ?? RPC_DEFAULT_TIMEOUT_MS) + 2000).emitWithAck('rpc', req)) as RpcResult;
    if (!r.ok) throw new RpcError(r.code, r.message);
    return r.result;
  }

  /** Answers calls of `method` from other servers. */
  handle(method: string, fn: RpcHandler): void {
    this.rpcHandlers.set(method, fn);
  }

  /** A one-way message to a server, or to every ready server with '*'. */
  send(to: string, topic: string, payload?: unknown): void {
    this.socket.emit('message', { to, topic, payload });
  }

  /** Posts to any chat channel (global, area:<area>, whisper:<player>, room:<name>) as `system:<serverId>`; resolves with its id. */
  async postChat(channel: string, text: string): Promise<string> {
    const r = (await this.socket.timeout(5000).emitWithAck('chat', { channel, text })) as ChatSendReply;
    if (!r.ok) throw new RpcError(r.code, r.message);
    return r.id;
  }

  /** Mutes a player's chat for `seconds` (0 lifts it): their messages are refused with MUTED. */
  async mute(player: string, seconds: number): Promise<void> {
    const r = (await this.socket.timeout(5000).emitWithAck('chat:mute', { player, seconds })) as ChatReply;
    if (!r.ok) throw new RpcError(r.code, r.message);
  }

  async handoff(player: string, area: string): Promise<HandoffResult> {
    this.flush();
    return (await this.socket.timeout(10_000).emitWithAck('handoff', { player, area })) as HandoffResult;
  }

  /**
   * Graceful shutdown: resolves once every area and player has moved away and we are deregistered.
   * Rejects with the bridge's code (err.code), e.g. NO_SERVER when no other server could take them.
   */
  async drain(timeoutMs = 60_000): Promise<void> {
    let onDrained: () => void = () => {};
    const drained = new Promise<void>((resolve) => { onDrained = resolve; });
    this.once('drained', onDrained);
    const reply = (await this.socket.timeout(5000).emitWithAck('drain')) as DrainReply;
    if (!reply.ok) {
      this.off('drained', onDrained);
      throw Object.assign(new Error(`the bridge refused the drain: ${reply.message}`), { code: reply.code });
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      drained,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not drained within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
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
    this.stopped = true;
    this.socket.disconnect();
  }
}
