// Backpressure (R25): a client whose outgoing buffer passes `clientBufferBytes` is sent no more
// state as it comes: the latest item per area, per player and for the world is kept for it
// instead, and sent once its buffer has drained to half (acks ride on state and only grow, so the
// latest carries everything reliable). A client still over the limit after `slowClientMs` is
// disconnected with SLOW_CLIENT. Other clients never wait for it: broadcasts skip it.
import type { Logger } from 'winston';
import type { BridgeConfig } from '../../shared/config.js';
import { ErrorCode, type StateItem } from '../../shared/protocol.js';
import type { Metrics } from '../ops/metrics.js';
import type { ClientSession, ClientSessions } from './client-session.js';

/** The Socket.IO room of the slow clients: broadcasts go `except` it. */
export const SLOW_ROOM = 'slow-clients';

interface Held {
  since: number;
  latest: Map<string, StateItem>;
}

export class SlowClients {
  private readonly slow = new Map<ClientSession, Held>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly config: BridgeConfig,
    private readonly sessions: ClientSessions,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => this.check(), SLOW_CHECK_MS).unref();
  }

  /** True while some client here is slow (the state router then skips them in broadcasts). */
  get any(): boolean {
    return this.slow.size > 0;
  }

  /** Keeps the item as the latest of its kind for every slow client it is meant for. */
  hold(item: StateItem): void {
    for (const [s, held] of this.slow) {
      if (item.kind === 'area' ? s.interest.includes(item.area) : item.kind === 'all' || item.player === s.player) {
        held.latest.set(item.kind === 'area' ? `a:${item.area}` : item.kind === 'all' ? 'all' : 'p', item);
        this.metrics.stateCoalesced.inc();
      }
    }
  }

  /** True if the session is slow (its state is held, not sent). */
  isSlow(s: ClientSession): boolean {
    return this.slow.has(s);
  }

  close(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    const limit = this.config.clientBufferBytes;
    const now = Date.now();
    for (const [s, held] of this.slow) {
      if (this.sessions.get(s.player) !== s || !s.socket.connected) {
        this.slow.delete(s);
        continue;
      }
      const bytes = bufferedBytes(s);
      if (bytes <= limit / 2) {
        this.slow.delete(s);
        void s.socket.leave(SLOW_ROOM);
        for (const item of held.latest.values()) s.socket.emit('state', item);
      } else if (now - held.since > this.config.slowClientMs) {
        this.slow.delete(s);
        this.logger.info('slow client disconnected', { player: s.player, bufferedBytes: bytes });
        s.error(ErrorCode.SlowClient, `over ${limit} bytes unread for ${this.config.slowClientMs} ms`);
        // Not a graceful close: its handshake would wait (30 s) for a peer that does not read, and
        // what is queued for it would stay in memory meanwhile.
        (s.socket.conn as unknown as EngineInternals).transport?.socket?.terminate?.();
        s.socket.disconnect(true);
      }
    }
    for (const s of this.sessions.values()) {
      if (this.slow.has(s) || bufferedBytes(s) <= limit) continue;
      this.slow.set(s, { since: now, latest: new Map() });
      void s.socket.join(SLOW_ROOM);
      this.metrics.slowClients.inc();
    }
    this.metrics.slowClientsNow.set(this.slow.size);
  }
}

const SLOW_CHECK_MS = 100;

interface EngineInternals {
  writeBuffer?: { data?: unknown }[];
  transport?: { socket?: { bufferedAmount?: number; terminate?: () => void } };
}

/** Bytes waiting to go to the client: engine.io's queue (while a write is pending) and the WebSocket's. */
export function bufferedBytes(s: ClientSession): number {
  const conn = s.socket.conn as unknown as EngineInternals;
  let bytes = conn.transport?.socket?.bufferedAmount ?? 0;
  for (const p of conn.writeBuffer ?? []) {
    const d = p.data;
    bytes += typeof d === 'string' ? d.length : d instanceof Uint8Array ? d.byteLength : 0;
  }
  return bytes;
}
