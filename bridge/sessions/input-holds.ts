// Holds on players' inputs while their owner changes: a coordinator (on any node) freezes them
// where their clients are connected, and thaws them once the change is committed or rolled back;
// the held inputs then go to the owner, in order. Also the re-send requests: when a server's new
// link comes up (or Redis was away), inputs in flight may be lost, so clients re-send.
import { moveHoldMs, type BridgeConfig } from '../../shared/config.js';
import type { NodeBus } from '../bus/node-bus.js';
import type { InputRouter } from '../relay/input-router.js';
import type { ClientSession, ClientSessions } from './client-session.js';

export class InputHolds {
  constructor(
    private readonly config: BridgeConfig,
    private readonly sessions: ClientSessions,
    private readonly inputs: InputRouter,
    private readonly bus: NodeBus,
  ) {
    bus.answer('freeze', ({ players, token, status }) => ({ frozen: this.freeze(players, token, status) }));
    bus.on('thaw', ({ players, token }) => this.thaw(players, token));
    bus.on('linked', ({ s }) => this.resendTo(s));
  }

  /** An input from a client: to its owner now, or held while a change is in progress (bounded). */
  accept(s: ClientSession, seq: number, data: unknown): boolean {
    if (!s.frozen) {
      this.inputs.route(s.server, s.player, seq, data, s.floor);
      return true;
    }
    if (s.frozen.length >= this.config.freezeBufferMax) return false;
    s.frozen.push({ seq, data });
    return true;
  }

  /**
   * A new link of `server` is up here: inputs routed to its old link are gone. Its players' clients
   * here are told `active` (they re-send what is unacknowledged), and so are those on other nodes.
   */
  linked(server: string): void {
    this.resendTo(server);
    this.bus.broadcast({ t: 'linked', s: server });
  }

  /** After a Redis outage: inputs on the bus may be lost; every client here re-sends. */
  resendAll(): void {
    for (const s of this.sessions.values()) this.tellActive(s);
  }

  private resendTo(server: string): void {
    for (const s of this.sessions.values()) if (s.server === server) this.tellActive(s);
  }

  private tellActive(s: ClientSession): void {
    if (!s.frozen) s.socket.emit('authority', { status: 'active', server: s.server, area: s.area, epoch: s.epoch });
  }

  /** Holds the players' inputs under `token` (one per change). Returns how many were frozen here. */
  private freeze(players: string[], token: string, status: 'transferring' | 'recovering'): number {
    let n = 0;
    for (const player of players) {
      const s = this.sessions.get(player);
      if (!s) continue;
      // A thaw that never comes (its coordinator died) must not hold a player forever.
      s.freeze(token, status, moveHoldMs(this.config), () => this.thaw([player], token));
      n++;
    }
    return n;
  }

  /** Ends the change `token` for these players: once nothing holds them, their inputs go to their owner, in order. */
  private thaw(players: string[], token: string): void {
    for (const player of players) {
      const s = this.sessions.get(player);
      const held = s?.thaw(token);
      if (s && held) for (const input of held) this.inputs.route(s.server, s.player, input.seq, input.data, s.floor);
    }
  }
}
