// Meshbridge client SDK (Node and browser). Connects with a token, numbers inputs, keeps every
// input until an autosave of its server covers it (acks and `saved` ride on state), and re-sends
// what it keeps after a reconnect — to the next bridge URL when the current one is gone — after a
// crash recovery, or when acks stall: a server crash then costs no input while the client lives.
// Chat: it keeps the last message id seen per channel and hands them over when it resumes, so it
// receives exactly what it missed, on whichever node it lands.
import { Emitter } from '@socket.io/component-emitter';
import { io, type Socket } from 'socket.io-client';
import {
  CLIENT_NAMESPACE, ErrorCode, chatIdAfter,
  type AuthorityPayload, type BridgeToClientEvents, type ChatHistoryReply, type ChatJoinReply, type ChatMessage, type ChatNotice,
  type ChatPresenceReply, type ChatRecovery, type ChatReply, type ChatSendReply, type ClientInput, type ClientToBridgeEvents,
  type ErrorPayload, type SessionPayload, type StateItem,
} from '../shared/protocol-core.js';

export interface MeshClientOptions {
  /** One bridge URL, or several to fail over between (a load balancer URL is one). */
  urls: string | string[];
  token: string;
  /** Re-send unacknowledged inputs when no ack has progressed for this long. */
  resendAfterMs?: number;
  /** Upper bound on unacknowledged inputs; send() throws past it (the server is not keeping up). */
  maxUnacked?: number;
  /**
   * How long connect() waits for a first session before it rejects with UNREACHABLE and stops (default 15 s). A
   * browser cannot tell a bridge that is down from one that refused this page's origin (both are a failed WebSocket).
   */
  connectTimeoutMs?: number;
}

interface ClientEvents {
  session: (s: SessionPayload) => void;
  state: (item: StateItem) => void;
  authority: (a: AuthorityPayload) => void;
  error: (e: ErrorPayload) => void;
  /** The bridge refused the handshake (err.data.code says why). Fatal codes stop reconnecting. */
  refused: (err: Error & { data?: { code?: string } }) => void;
  disconnect: (reason: string) => void;
  chat: (m: ChatMessage) => void;
  'chat:notice': (n: ChatNotice) => void;
  /** After each session start: per channel, what was sent again and whether history reached back. */
  'chat:recovery': (r: ChatRecovery) => void;
}

/** A chat call that the bridge refused: `code` is RATE_LIMITED, CHAT_TOO_LONG, BAD_CHANNEL, NOT_IN_ROOM, MUTED… */
export class ChatError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const FATAL = new Set<string>([ErrorCode.BadToken, ErrorCode.PlayerMismatch, ErrorCode.BadHandshake]);
/** connect()'s rejection when no session came in time (not a bridge's code: the SDK's own). */
export const UNREACHABLE = 'UNREACHABLE';

export class MeshClient extends Emitter<ClientEvents, ClientEvents> {
  player: string | undefined;
  session: SessionPayload | undefined;
  /** Highest seq a server acknowledged. */
  ack = 0;
  /** Highest seq an autosave of its server covers (`saved` on state): inputs up to it are no longer kept. */
  saved = 0;
  private nextSeq = 1;
  /** Every input above `floor`, in seq order (contiguous): the acknowledged ones an autosave does not cover yet, then the rest. */
  private held: ClientInput[] = [];
  private socket: Socket<BridgeToClientEvents, ClientToBridgeEvents> | undefined;
  private readonly urls: string[];
  private urlIndex = 0;
  private attempts = 0;
  private closed = false;
  private ackProgressAt = Date.now();
  /** The next seq the paced re-send will emit, its token bucket, and its timer. */
  private resendFrom = 0;
  private resendTokens = 0;
  private resendRefilledAt = 0;
  private resendTimer: ReturnType<typeof setTimeout> | undefined;
  private stallTimer: ReturnType<typeof setInterval> | undefined;
  private lastStatus: AuthorityPayload['status'] | undefined;
  private readonly resendAfterMs: number;
  private readonly maxUnacked: number;
  /** session.limits.heldInputs, kept across reconnects (0 before the first session: keep nothing acknowledged). */
  private heldInputs = 0;
  private hadSession = false;
  /** The last chat id seen per channel, and the rooms joined: handed over at every (re)connect. */
  private readonly chatCursors = new Map<string, string>();
  private readonly rooms = new Set<string>();
  /** This player's area as last told (kept across a drop: its chat channel is resumed). */
  private area: string | undefined;

  /** Chat: `global`, `area` (yours), `whisper:<player>`, `room:<name>`. Each call rejects with a ChatError. */
  readonly chat = {
    send: async (channel: string, text: string): Promise<string> => (await this.ask<ChatSendReply>('chat', { channel, text })).id,
    join: async (room: string): Promise<void> => {
      const channel = room.startsWith('room:') ? room : `room:${room}`;
      const r = await this.ask<ChatJoinReply>('chat:join', { channel });
      this.rooms.add(channel);
      this.advance(channel, r.last);
    },
    leave: async (room: string): Promise<void> => {
      const channel = room.startsWith('room:') ? room : `room:${room}`;
      this.rooms.delete(channel);
      this.chatCursors.delete(channel);
      await this.ask<ChatReply>('chat:leave', { channel });
    },
    history: async (channel: string, opts: { after?: string; limit?: number } = {}) => {
      const r = await this.ask<ChatHistoryReply>('chat:history', { channel, ...opts });
      return { messages: r.messages, recovered: r.recovered };
    },
    presence: async (channel: string) => {
      const r = await this.ask<ChatPresenceReply>('chat:presence', { channel });
      return { channel: r.channel, count: r.count, ...(r.players ? { players: r.players } : {}) };
    },
  };
  constructor(private readonly options: MeshClientOptions) {
    super();
    this.urls = Array.isArray(options.urls) ? options.urls : [options.urls];
    this.resendAfterMs = options.resendAfterMs ?? 1000;
    this.maxUnacked = options.maxUnacked ?? 4096;
  }

  get connected(): boolean {
    return this.session !== undefined && this.socket?.connected === true;
  }

  /** Inputs sent and not acknowledged yet. */
  get pending(): number {
    return this.nextSeq - 1 - this.ack;
  }

  /** Inputs kept to re-send (acknowledged but not yet covered by an autosave, and unacknowledged). */
  get kept(): number {
    return this.held.length;
  }

  /**
   * The highest seq this client can no longer re-send: what an autosave covers, or an acknowledged input past
   * `session.limits.heldInputs` (docs/protocol.md "Delivery guarantee"). Told to the bridge at every handshake.
   */
  private get floor(): number {
    return Math.max(this.saved, this.ack - this.heldInputs);
  }

  /**
   * Resolves with the first session; rejects on a refusal for good (bad token or handshake), or with UNREACHABLE
   * when no session came within `connectTimeoutMs` (then the client stops). Other refusals are retried meanwhile.
   */
  connect(): Promise<SessionPayload> {
    return new Promise((resolve, reject) => {
      const giveUp = setTimeout(() => {
        this.off('session', onSession);
        this.off('refused', onRefused);
        this.close();
        const why = 'no bridge answered: all down, or this page\'s origin is not in the bridge\'s corsOrigins';
        reject(Object.assign(new Error(why), { data: { code: UNREACHABLE } }));
      }, this.options.connectTimeoutMs ?? 15_000);
      const onSession = (s: SessionPayload) => {
        clearTimeout(giveUp);
        this.off('refused', onRefused);
        resolve(s);
      };
      // A refusal that is not fatal is retried: keep waiting for the session it leads to.
      const onRefused = (err: Error) => {
        if (!FATAL.has((err as { data?: { code?: string } }).data?.code ?? '')) return void this.once('refused', onRefused);
        clearTimeout(giveUp);
        this.off('session', onSession);
        reject(err);
      };
      this.once('session', onSession);
      this.once('refused', onRefused);
      this.open();
      this.stallTimer = setInterval(() => this.resendIfStalled(), Math.max(50, this.resendAfterMs / 2));
    });
  }

  /** Sends one input; returns its seq. It is kept and re-sent until acknowledged. */
  send(data: unknown): number {
    if (this.pending >= this.maxUnacked) throw new Error(`more than ${this.maxUnacked} unacknowledged inputs`);
    const input = { seq: this.nextSeq++, data };
    this.held.push(input);
    if (this.connected) this.socket!.emit('input', input);
    return input.seq;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.stallTimer);
    clearTimeout(this.resendTimer);
    this.socket?.disconnect();
  }

  private open(): void {
    const url = this.urls[this.urlIndex % this.urls.length]!;
    const socket: Socket<BridgeToClientEvents, ClientToBridgeEvents> = io(`${url}${CLIENT_NAMESPACE}`, {
      transports: ['websocket'],
      forceNew: true, // one connection per client, even when several share a process
      reconnection: false,
      // `ack` only once a session was had: a first connect says it knows nothing, and is told the truth.
      auth: { token: this.options.token, ...(this.hadSession ? { ack: this.ack } : {}), saved: this.floor, chat: this.cursorsToResume() },
    });
    this.socket = socket;
    socket.on('session', (s) => {
      this.attempts = 0;
      this.hadSession = true;
      this.session = s;
      this.player = s.player;
      this.area = s.area;
      // The bridge's word on where this player stands (e.g. after this process restarted).
      if (this.nextSeq <= s.ack) this.nextSeq = s.ack + 1;
      this.heldInputs = s.limits.heldInputs ?? 0;
      this.acknowledge(s.ack);
      this.emit('session', s);
      this.resendAll();
    });
    socket.on('state', (item) => {
      if ('acks' in item && item.acks && this.player !== undefined) {
        const a = item.acks[this.player];
        if (a !== undefined) this.acknowledge(a);
        const saved = item.saved?.[this.player];
        if (saved !== undefined) this.noteSaved(saved);
      }
      this.emit('state', item);
    });
    socket.on('authority', (a) => {
      // Your own area is the latest one named here: area state of other areas is your neighbourhood.
      if (this.session) this.session = { ...this.session, server: a.server, area: a.area, epoch: a.epoch };
      this.area = a.area;
      this.emit('authority', a);
      // A handoff (transferring -> active) held and replayed every input. Any other `active` (after a crash
      // recovery, which starts from the autosave, or when the owner's link moved): send what is kept again now.
      if (a.status === 'active' && this.lastStatus !== 'transferring') this.resendAll();
      this.lastStatus = a.status;
    });
    socket.on('chat', (m) => {
      this.advance(m.channel, m.id);
      this.emit('chat', m);
    });
    socket.on('chat:notice', (n) => this.emit('chat:notice', n));
    socket.on('chat:recovery', (r) => {
      for (const c of r.channels) this.advance(c.channel, c.last);
      this.emit('chat:recovery', r);
    });
    socket.on('error', (e) => {
      // Another connection took this player: coming back would only take it away again.
      if (e.code === ErrorCode.SessionReplaced) this.closed = true;
      this.emit('error', e);
    });
    socket.on('connect_error', (err) => {
      this.emit('refused', err);
      if (!FATAL.has((err as { data?: { code?: string } }).data?.code ?? '')) this.retry();
    });
    socket.on('disconnect', (reason) => {
      this.session = undefined;
      this.emit('disconnect', reason);
      this.retry();
    });
  }

  private async ask<R extends { ok: boolean }>(event: 'chat' | `chat:${string}`, payload: object): Promise<Extract<R, { ok: true }>> {
    if (!this.connected) throw new ChatError('DISCONNECTED', 'not connected');
    const emit = this.socket!.timeout(10_000) as unknown as { emitWithAck(e: string, p: object): Promise<R> };
    const r = await emit.emitWithAck(event, payload);
    if (!r.ok) {
      const { code, message } = r as unknown as { code: string; message: string };
      throw new ChatError(code, message);
    }
    return r as Extract<R, { ok: true }>;
  }

  /** Keeps the highest id seen in a channel (ids grow per channel: `<ms>-<n>`). */
  private advance(channel: string, id: string): void {
    const have = this.chatCursors.get(channel);
    if (have === undefined || chatIdAfter(id, have)) this.chatCursors.set(channel, id);
  }

  /** The cursors of the channels this client is in now (its area's, not those of areas it left). */
  private cursorsToResume(): Record<string, string> {
    const area = this.area;
    const keep = (c: string) =>
      c === 'global' || c.startsWith('whisper:') || this.rooms.has(c) || (area !== undefined && c === `area:${area}`);
    return Object.fromEntries([...this.chatCursors].filter(([c]) => keep(c)));
  }

  private retry(): void {
    if (this.closed) return;
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.urlIndex++;
    // Jittered: the clients of a node that died do not all come back in the same millisecond.
    const delay = Math.min(2000, 50 * 2 ** this.attempts++) * (0.5 + Math.random());
    setTimeout(() => { if (!this.closed) this.open(); }, delay);
  }

  private acknowledge(seq: number): void {
    // Never past what this client sent: an ack beyond it is not the server's to give.
    if (seq <= this.ack || seq >= this.nextSeq) return;
    this.ack = seq;
    this.ackProgressAt = Date.now();
    this.forget();
  }

  /** An autosave covers inputs up to `seq`: never past what was acknowledged (those may still be lost in flight). */
  private noteSaved(seq: number): void {
    if (seq <= this.saved) return;
    this.saved = Math.min(seq, this.ack);
    this.forget();
  }

  /** Drops the inputs at or below the floor: nothing can ask for them again. */
  private forget(): void {
    const floor = this.floor;
    let drop = 0;
    while (drop < this.held.length && this.held[drop]!.seq <= floor) drop++;
    if (drop > 0) this.held.splice(0, drop);
  }

  /**
   * Re-sends every kept input, oldest first (the owner's link drops what it already has; after a crash
   * the new owner starts at its autosave and needs what came after), paced at half the bridge's input
   * rate limit (from `session.limits`) so a long backlog never trips RATE_LIMITED and so never stalls itself.
   */
  private resendAll(): void {
    this.ackProgressAt = Date.now();
    const first = this.held[0];
    if (!first) return;
    this.resendFrom = first.seq; // from the oldest, also for a re-send under way (at its next step)
    if (this.resendTimer !== undefined) return;
    const limits = this.session?.limits;
    this.resendTokens = limits ? limits.inputBurst / 2 : Infinity;
    this.resendRefilledAt = Date.now();
    this.pumpResend();
  }

  private pumpResend(): void {
    this.resendTimer = undefined;
    if (!this.connected) return;
    const limits = this.session?.limits;
    if (limits) {
      const now = Date.now();
      this.resendTokens = Math.min(
        limits.inputBurst / 2,
        this.resendTokens + ((now - this.resendRefilledAt) * limits.inputsPerSecond) / 2000,
      );
      this.resendRefilledAt = now;
    }
    const head = this.held[0];
    if (!head) return;
    let i = Math.max(0, this.resendFrom - head.seq);
    for (; i < this.held.length && this.resendTokens >= 1; i++, this.resendTokens--) this.socket!.emit('input', this.held[i]!);
    this.resendFrom = (this.held[i - 1]?.seq ?? this.resendFrom - 1) + 1;
    if (i < this.held.length) this.resendTimer = setTimeout(() => this.pumpResend(), 50);
  }

  private resendIfStalled(): void {
    if (this.pending > 0 && Date.now() - this.ackProgressAt > this.resendAfterMs) this.resendAll();
  }
}

