// A client's session on this node: its placement, input rate limit, area room and the holds
// (freezes) on its inputs while its owner changes.
import type { Socket } from 'socket.io';
import type { BridgeToClientEvents, ClientToBridgeEvents, ErrorCode } from '../../shared/protocol.js';
import { TokenBucket } from '../../shared/token-bucket.js';
import type { LiveSession } from '../authority/world-incarnation.js';
import type { Metrics } from '../ops/metrics.js';
import { Registry } from '../relay/registry.js';

/** `data.joined` is set by the handshake: the session bound to the connection. */
export type ClientSocket = Socket<ClientToBridgeEvents, BridgeToClientEvents, Record<string, never>, { joined?: unknown }>;

export class ClientSession {
  server: string;
  area: string;
  epoch: number;
  /** Inputs held while the player's ownership changes (undefined when not frozen). */
  frozen: { seq: number; data: unknown }[] | undefined;
  /** The highest seq acknowledged to this client (from the acks of the state it was sent). */
  acked = 0;
  /** The highest seq an autosave of its owner covers, as told to the client (the `saved` of its state). */
  saved = 0;
  /** The areas whose state this client receives (kept by ../interest/client-interest.ts). */
  interest: string[] = [];
  /** The freezes holding this player (one per ownership change in progress), with their timeouts. */
  private readonly holds = new Map<string, NodeJS.Timeout>();
  private readonly inputTokens: TokenBucket;

  constructor(
    readonly player: string,
    readonly id: string,
    /** Join generation: a session with a greater one elsewhere replaces this one. */
    readonly gen: number,
    readonly socket: ClientSocket,
    placement: { server: string; area: string; epoch: number },
    rate: { perSecond: number; burst: number },
    private readonly metrics: Metrics,
    /** session.limits.heldInputs: the client keeps at most this many acknowledged inputs above `saved`. */
    private readonly heldInputs: number,
  ) {
    this.server = placement.server;
    this.area = placement.area;
    this.epoch = placement.epoch;
    this.inputTokens = new TokenBucket(rate.perSecond, rate.burst);
  }

  /** True if one more input is allowed now. */
  takeInputToken(): boolean {
    return this.inputTokens.take();
  }

  noteAck(seq: number): void {
    if (seq > this.acked) this.acked = seq;
  }

  noteSaved(seq: number): void {
    if (seq > this.saved) this.saved = seq;
  }

  /**
   * The highest seq the client can no longer re-send: it keeps every input above its `saved`, but acknowledged
   * ones only `heldInputs` deep (docs/protocol.md "Delivery guarantee"). Each input carries it to the owner's
   * link, which never waits for a seq at or below it; after a crash the new owner starts at its autosave (at or
   * above it) and the client re-sends from there.
   */
  get floor(): number {
    return Math.max(this.saved, this.acked - this.heldInputs);
  }

  moveTo(server: string, area: string, epoch: number): void {
    this.server = server;
    this.area = area;
    this.epoch = epoch;
  }

  /**
   * Holds inputs from now on, under `token`. `onTimeout` ends this hold if its thaw never comes
   * (its coordinator died).
   */
  freeze(token: string, status: 'transferring' | 'recovering', timeoutMs: number, onTimeout: () => void): void {
    if (!this.frozen) this.frozen = [];
    clearTimeout(this.holds.get(token));
    this.holds.set(token, setTimeout(onTimeout, timeoutMs));
    this.socket.emit('authority', { status, server: this.server, area: this.area, epoch: this.epoch });
  }

  /**
   * Ends the hold `token`. Only when no other hold remains (a late thaw of an earlier change must
   * not release a player another change froze) returns the held inputs, in order; else undefined.
   */
  thaw(token: string): { seq: number; data: unknown }[] | undefined {
    if (!this.holds.has(token)) return undefined;
    clearTimeout(this.holds.get(token));
    this.holds.delete(token);
    if (this.holds.size > 0) return undefined;
    const held = this.frozen ?? [];
    this.frozen = undefined;
    this.socket.emit('authority', { status: 'active', server: this.server, area: this.area, epoch: this.epoch });
    return held;
  }

  error(code: ErrorCode, message: string): void {
    this.metrics.errors.inc({ code, side: 'client' });
    this.socket.emit('error', { code, message });
  }
}

/** The clients attached to this node, by player. A player has at most one session mesh-wide. */
export class ClientSessions extends Registry<ClientSession> {
  constructor() {
    super((s) => s.player);
  }

  /** The sessions held here, as a rebuilt map gets them back (bridge/authority/world-incarnation.ts). */
  live(): LiveSession[] {
    return [...this.values()].map((s) => [s.player, s.id, s.gen]);
  }
}
