// One game server's connection, held by the node it connected to. The link is where inputs
// become exactly-once and in order: per attached player it delivers only seq = last + 1, drops
// older seqs as duplicates and newer ones as gaps (the client SDK re-sends from its last ack),
// and writes everything queued in one event-loop turn as one `inputs` frame.
import type { Socket } from 'socket.io';
import type {
  BridgeToServerEvents, ErrorCode, InputItem, PlayerAttach, PlayerDetach, ServerToBridgeEvents,
} from '../../shared/protocol.js';
import type { Metrics } from '../ops/metrics.js';
import { Registry } from './registry.js';

/** `data.registered` is set by the handshake: what the connection was admitted as. */
export type ServerSocket = Socket<ServerToBridgeEvents, BridgeToServerEvents, Record<string, never>, { registered?: unknown }>;

export interface LinkedPlayer {
  area: string;
  epoch: number;
  /** Last seq delivered to the server (= applied by it: the link is ordered and reliable). */
  lastSeq: number;
  /**
   * Exported to another server, the move not yet done or rolled back: nothing is delivered until
   * then (Date.now() ms). Bounded like a freeze, so a coordinator that dies cannot hold it forever.
   */
  sealedUntil?: number;
  /** The seq its owner's latest stored autosave covers, and the last such seq stamped on its state (`saved`). */
  saved?: number;
  savedSent?: number;
  /**
   * Attached with `resync` and given no input since: the server may still be told of a jump past its seq.
   * A move before the first input carries it to the next owner (else that one would see a gap).
   */
  resync?: boolean;
}

/** What an export covers: one player (player:export / player:resume) or one area (area:export / area:resume). */
export type Sealed = { player: string } | { area: string };

/** The scope of an export or its rollback, from the event and its payload. */
export function sealedBy(event: string, payload: unknown): Sealed | undefined {
  const p = payload as { player?: unknown; area?: unknown } | null;
  if ((event === 'player:export' || event === 'player:resume') && typeof p?.player === 'string') return { player: p.player };
  if ((event === 'area:export' || event === 'area:resume') && typeof p?.area === 'string') return { area: p.area };
  return undefined;
}

export class ServerLink {
  readonly players = new Map<string, LinkedPlayer>();
  /** Until when (performance.now()) the server's lease surely runs: the send time of its last renewal that held, plus the lease. */
  private leaseUntil = 0;
  private queue: InputItem[] = [];
  private scheduled = false;
  private readonly flushNow = () => this.flush();
  /** Told of an input for a player not attached here: its attach may have been missed (LinkKeeper.heal). */
  onUnattached: ((player: string) => void) | undefined;

  constructor(
    readonly serverId: string,
    readonly epoch: number,
    readonly socket: ServerSocket,
    private readonly metrics: Metrics,
  ) {}

  /**
   * `acked` is the last seq acknowledged to the player's client (from its session's node). It is
   * never above `lastSeq` but after a crash: the player was rolled back to an autosave, and the
   * client no longer holds the inputs up to its ack. Delivery then goes on right after it (the
   * documented rollback). The rule needs no state and no message of its own, so it survives lost
   * messages and moves made before the first input arrives.
   */
  deliver(player: string, seq: number, data: unknown, acked: number): void {
    const p = this.players.get(player);
    if (!p) {
      this.onUnattached?.(player);
      return void this.metrics.inputsDropped.inc({ reason: 'not_attached' });
    }
    if (p.sealedUntil !== undefined) {
      if (Date.now() < p.sealedUntil) return void this.metrics.inputsDropped.inc({ reason: 'exported' });
      delete p.sealedUntil;
    }
    const last = acked > p.lastSeq ? acked : p.lastSeq;
    if (seq <= last) return void this.metrics.inputsDropped.inc({ reason: 'duplicate' });
    if (seq !== last + 1) return void this.metrics.inputsDropped.inc({ reason: 'gap' });
    p.lastSeq = seq;
    if (p.resync) p.resync = false; // assigned, not deleted: the hot path keeps one object shape
    this.queue.push({ player, seq, data });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.metrics.inputsDelivered.inc(batch.length);
    // Cannot throw: every input passed the parser's depth limit, so encoding it never overflows.
    this.socket.emit('inputs', batch);
  }

  /** A renewal of the lease sent at `sentAt` (performance.now()) held: it runs at least `leaseMs` from then. */
  leaseRenewed(sentAt: number, leaseMs: number): void {
    this.leaseUntil = Math.max(this.leaseUntil, sentAt + leaseMs);
  }

  /**
   * How long from now the server may apply what it is sent: no recovery can start sooner. One that
   * disconnects is recovered `graceMs` after it (at the earliest); one whose lease lapses, when it does.
   */
  confirmWindow(graceMs: number): number {
    return Math.max(0, Math.min(graceMs, Math.floor(this.leaseUntil - performance.now())));
  }

  /** Autosaves stored for these players: never above what was delivered, never backwards. */
  noteSaved(players: Record<string, number>): void {
    for (const id in players) {
      const p = this.players.get(id);
      const seq = players[id]!;
      if (p && seq <= p.lastSeq && seq > (p.saved ?? 0)) p.saved = seq;
    }
  }

  /** Attaches (or re-attaches under a newer epoch, e.g. a new area on the same server). */
  attach(a: PlayerAttach): void {
    this.flush();
    const cur = this.players.get(a.player);
    if (cur && cur.epoch >= a.epoch) return;
    // Same server, new epoch: it has applied what it has applied; never go back, and a resync still pending stays.
    const seq = cur ? Math.max(cur.lastSeq, a.seq) : a.seq;
    const resync = a.resync === true || cur?.resync === true;
    this.players.set(a.player, { area: a.area, epoch: a.epoch, lastSeq: seq, ...(resync ? { resync } : {}) });
    this.socket.emit('player:attach', { ...a, seq, ...(resync ? { resync } : {}) });
  }

  /** Attaches a player as its Redis record stands (a resumed session, or after missed announcements). */
  attachRecord(player: string, rec: { area: string; epoch: number; seq: number; snapshot?: unknown }): void {
    const { area, epoch, seq, snapshot } = rec;
    this.attach({ player, area, epoch, seq, ...(snapshot === undefined ? {} : { snapshot }) });
  }

  /**
   * Stops delivering to exactly what was exported: one player, or every player of one area. (A player's
   * export names its destination area too: that must never seal the bystanders there.)
   */
  seal(what: Sealed, ms: number): void {
    for (const p of this.matching(what)) p.sealedUntil = Date.now() + ms;
  }

  /** The export was rolled back: deliver again. */
  unseal(what: Sealed): void {
    for (const p of this.matching(what)) delete p.sealedUntil;
  }

  private matching(what: Sealed): LinkedPlayer[] {
    if ('player' in what) {
      const p = this.players.get(what.player);
      return p ? [p] : [];
    }
    return [...this.players.values()].filter((p) => p.area === what.area);
  }

  /** Of what an export covers, the players attached with `resync` that have had no input since. */
  awaitingResync(what: Sealed): string[] {
    const ids = 'player' in what ? [what.player] : [...this.players].filter(([, p]) => p.area === what.area).map(([id]) => id);
    return ids.filter((id) => this.players.get(id)?.resync === true);
  }

  /** The last seq delivered per attached player. */
  cursors(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, p] of this.players) out[id] = p.lastSeq;
    return out;
  }

  /** Returns the last seq delivered for the player, or undefined if it was not attached. */
  detach(player: string, reason: PlayerDetach['reason']): number | undefined {
    this.flush();
    const p = this.players.get(player);
    if (!p) return undefined;
    this.players.delete(player);
    this.socket.emit('player:detach', { player, reason });
    return p.lastSeq;
  }

  error(code: ErrorCode, message: string): void {
    this.metrics.errors.inc({ code, side: 'server' });
    this.socket.emit('error', { code, message });
  }
}

/** The links held by one node, by server id. */
export class ServerLinks extends Registry<ServerLink> {
  constructor() {
    super((l) => l.serverId);
  }
}
