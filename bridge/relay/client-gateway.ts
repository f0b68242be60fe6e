// The /client namespace: the handshake (token -> player -> a session), a client's inputs (rate
// limit, validation, then to its owner or held while its owner changes) and its disconnect.
// What a session is and how it ends belongs to ../sessions.
import type { Logger } from 'winston';
import type { BridgeConfig } from '../../shared/config.js';
import { ClientHandshakeSchema, ClientInputSchema, ErrorCode, isClientInput } from '../../shared/protocol.js';
import type { EdgeGuard } from '../ops/edge-guard.js';
import type { Metrics } from '../ops/metrics.js';
import type { ClientSession, ClientSocket } from '../sessions/client-session.js';
import type { InputHolds } from '../sessions/input-holds.js';
import type { Joined, SessionLifecycle } from '../sessions/session-lifecycle.js';
import type { TokenVerifier } from './auth.js';
import type { ClientNamespace } from './socket-server.js';
import { WireError, guardHandshake, refusal, type Respond } from './wire-error.js';
import { guardedOn } from './wire-guard.js';

export interface ClientGatewayDeps {
  nodeId: string;
  config: BridgeConfig;
  nsp: ClientNamespace;
  lifecycle: SessionLifecycle;
  holds: InputHolds;
  verifier: TokenVerifier;
  metrics: Metrics;
  logger: Logger;
  /** Catches what a handshake throws by mistake. */
  edge: EdgeGuard;
  isReady: () => boolean;
}

/** A client event that another part handles: its session, its payload, and how to answer it. */
export type ClientEventHandler = (session: ClientSession, payload: unknown, respond: Respond) => unknown;

export class ClientGateway {
  private readonly handlers = new Map<string, ClientEventHandler>();

  constructor(private readonly d: ClientGatewayDeps) {
    guardHandshake<ClientSocket>(d.nsp, 'client', d, (socket) => this.handshake(socket));
    d.nsp.on('connection', (socket) => this.onConnection(socket));
  }

  /** Another part handles this client event. */
  handle(event: string, handler: ClientEventHandler): void {
    if (event === 'input' || this.handlers.has(event)) throw new Error(`client event ${event} already has a handler`);
    this.handlers.set(event, handler);
  }

  private async handshake(socket: ClientSocket): Promise<void> {
    if (!this.d.isReady()) throw new WireError(ErrorCode.NotReady, 'this bridge node is not ready (no Redis); try another or retry');
    const hs = ClientHandshakeSchema.safeParse(socket.handshake.auth);
    if (!hs.success) throw new WireError(ErrorCode.BadHandshake, 'auth must be { token, player?, ack?, chat? }');
    let player: string;
    try {
      player = await this.d.verifier.verify(hs.data.token);
    } catch (err) {
      throw new WireError(ErrorCode.BadToken, `token refused: ${(err as Error).message}`);
    }
    if (hs.data.player !== undefined && hs.data.player !== player) {
      throw new WireError(ErrorCode.PlayerMismatch, `token names ${player}, not ${hs.data.player}`);
    }
    socket.data.joined = await this.d.lifecycle.join(player, hs.data.ack, hs.data.saved);
  }

  private onConnection(socket: ClientSocket): void {
    const { metrics, config, lifecycle } = this.d;
    const j = socket.data.joined as Joined;
    const session = lifecycle.open(socket, j);
    socket.emit('session', {
      player: j.player, server: j.server, area: j.area, epoch: j.epoch, ack: j.seq, node: this.d.nodeId,
      limits: { inputsPerSecond: config.inputsPerSecond, inputBurst: config.inputBurst, heldInputs: config.heldInputs },
    });
    guardedOn(socket, 'input', this.d.logger, (code, message) => {
      metrics.inputsDropped.inc({ reason: code === ErrorCode.InputTooLarge ? 'too_large' : 'bad_input' });
      session.error(code, message);
    }, (input: unknown) => this.onInput(session, input));
    // The one way an event is answered: through its acknowledgement when it has one, else (a refusal) as an
    // `error` event; never both, and every refusal counted either way.
    const respondTo = (ack: unknown): Respond => (r) => {
      if (typeof ack !== 'function') return r.ok ? undefined : session.error(r.code, r.message);
      if (!r.ok) metrics.errors.inc({ code: r.code, side: 'client' });
      (ack as (reply: unknown) => void)(r);
    };
    for (const [event, handler] of this.handlers) {
      guardedOn(socket, event, this.d.logger, (code, message, ack) => respondTo(ack)(refusal(code, message)), (...args: unknown[]) => {
        return handler(session, typeof args[0] === 'function' ? undefined : args[0], respondTo(args.at(-1)));
      });
    }
    socket.onAny((event: string) => {
      if (event !== 'input' && !this.handlers.has(event)) session.error(ErrorCode.UnknownEvent, `clients cannot send '${event}'`);
    });
    socket.on('disconnect', () => lifecycle.closed(session));
  }

  private onInput(s: ClientSession, input: unknown): void {
    const { metrics, config } = this.d;
    if (!s.takeInputToken()) {
      metrics.inputsDropped.inc({ reason: 'rate_limited' });
      return s.error(ErrorCode.RateLimited, `more than ${config.inputsPerSecond} inputs/s`);
    }
    if (typeof input === 'object' && input !== null && 'player' in input && input.player !== s.player) {
      metrics.inputsDropped.inc({ reason: 'forbidden' });
      return s.error(ErrorCode.ForbiddenPlayer, `this session speaks for ${s.player} only`);
    }
    if (!isClientInput(input)) {
      metrics.inputsDropped.inc({ reason: 'bad_input' });
      const issue = ClientInputSchema.safeParse(input).error?.issues[0];
      return s.error(ErrorCode.BadInput, `input must be { seq: positive integer, data }: ${issue?.message ?? 'malformed'}`);
    }
    if (!this.d.holds.accept(s, input.seq, input.data)) metrics.inputsDropped.inc({ reason: 'frozen_overflow' });
  }
}
