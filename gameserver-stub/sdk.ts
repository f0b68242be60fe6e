// Game-server SDK: what a Node dedicated server needs to join a Meshbridge network. It registers
// with the network secret, tracks the areas and players it owns (with their epochs), hands the
// game each input exactly once and in order, batches state per event-loop turn, and reports load.
import { EventEmitter } from 'node:events';
import { io, type Socket } from 'socket.io-client';
import {
  PROTOCOL_VERSION, SERVER_NAMESPACE,
  type AreaGrant, type BridgeToServerEvents, type ErrorPayload, type PlayerAttach, type PlayerDetach,
  type ServerToBridgeEvents, type StateItem, type WelcomePayload,
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

interface SdkEvents {
  welcome: [WelcomePayload];
  input: [player: string, seq: number, data: unknown];
  attach: [PlayerAttach];
  detach: [PlayerDetach];
  'area:assign': [AreaGrant];
  'area:release': [AreaGrant];
  error: [ErrorPayload];
  disconnect: [reason: string];
}

export class GameServerClient extends EventEmitter<SdkEvents> {
  readonly areas = new Map<string, number>();
  readonly players = new Map<string, OwnedPlayer>();
  epoch = 0;
  private readonly socket: Socket<BridgeToServerEvents, ServerToBridgeEvents>;
  private queue: StateItem[] = [];
  private scheduled = false;

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
        players: Object.fromEntries([...this.players].map(([id, p]) => [id, p.lastApplied])),
      }),
    });
    this.socket.on('welcome', (w) => {
      this.epoch = w.epoch;
      this.areas.clear();
      for (const a of w.areas) this.areas.set(a.area, a.epoch);
      this.emit('welcome', w);
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
      this.players.set(a.player, { area: a.area, epoch: a.epoch, lastApplied: a.seq });
      this.emit('attach', a);
    });
    this.socket.on('player:detach', (d) => {
      if (this.players.delete(d.player)) this.emit('detach', d);
    });
    this.socket.on('area:assign', (a) => {
      this.areas.set(a.area, a.epoch);
      this.emit('area:assign', a);
    });
    this.socket.on('area:release', (a) => {
      this.areas.delete(a.area);
      this.emit('area:release', a);
    });
    this.socket.on('error', (e) => {
      // A newer registration of this server id fenced us: reconnecting would fence it in turn.
      if (e.code === 'SESSION_REPLACED') this.socket.io.reconnection(false);
      this.emit('error', e);
    });
    this.socket.on('disconnect', (reason) => this.emit('disconnect', reason));
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Connects and resolves with the welcome; rejects with the bridge's refusal (err.data.code). */
  connect(): Promise<WelcomePayload> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        this.socket.off('welcome', onWelcome);
        this.socket.disconnect();
        reject(err);
      };
      const onWelcome = (w: WelcomePayload) => {
        this.socket.off('connect_error', onError);
        resolve(w);
      };
      this.socket.once('connect_error', onError);
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

  /** Queues a raw item (also lets tests send what a faulty server would). */
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
    for (let i = 0; i < this.queue.length; i += 1024) this.socket.emit('state', this.queue.slice(i, i + 1024));
    this.queue = [];
  }

  reportLoad(load: number, power?: number): void {
    if (this.socket.connected) this.socket.emit('load', power === undefined ? { load } : { load, power });
  }

  /** Sends any event (tests use this to act as a misbehaving server). */
  emitRaw(event: string, ...args: unknown[]): void {
    (this.socket as unknown as Socket).emit(event, ...args);
  }

  close(): void {
    this.flush();
    this.socket.disconnect();
  }
}
