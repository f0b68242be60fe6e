import type { Socket } from 'socket.io';
import type { Logger } from 'winston';
import { ErrorCode } from '../../shared/protocol.js';
import type { EdgeGuard } from '../ops/edge-guard.js';
import type { Metrics } from '../ops/metrics.js';

/** A refusal with a wire code; thrown in handshake middleware, it reaches the peer as connect_error data. */
export class WireError extends Error {
  readonly data: { code: ErrorCode };

  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.data = { code };
  }
}

/** A refused request, as an acknowledgement carries it. */
export type Refusal = { ok: false; code: ErrorCode; message: string };
/** What a part answers to an event with an acknowledgement: `{ ok: true, … }` or a refusal (with extras). */
export type WireReply = { ok: true; [field: string]: unknown } | (Refusal & { [field: string]: unknown });
/**
 * Answers an event a part handles: through its acknowledgement, or, for a refusal without one, as
 * an `error` event. Every refusal is counted either way (the gateways make it).
 */
export type Respond = (reply: WireReply) => void;

export function refusal(code: ErrorCode, message: string): Refusal {
  return { ok: false, code, message };
}

/**
 * Runs an async handshake as namespace middleware: the peer is connected only once it resolves,
 * so nothing it sends can arrive before its session exists. Refusals are counted and sent as
 * connect_error with { code }; anything else thrown (even synchronously) is a fault: logged, counted
 * and answered INTERNAL, never an exception in socket.io's middleware chain.
 */
export function guardHandshake<S extends Socket>(
  nsp: { use(fn: (socket: S, next: (err?: Error) => void) => void): unknown },
  side: 'client' | 'server', d: { metrics: Metrics; logger: Logger; edge: EdgeGuard }, handshake: (socket: S) => Promise<void>,
): void {
  nsp.use((socket, next) => {
    Promise.resolve().then(() => { d.edge.trip('handshake'); return handshake(socket); }).then(
      () => next(),
      (err: unknown) => {
        const wire = err instanceof WireError ? err : new WireError(ErrorCode.Internal, `could not accept this ${side}`);
        if (err instanceof WireError) d.logger.warn(`${side} handshake refused`, { code: wire.code, address: socket.handshake.address });
        else d.edge.fault('handshake', err);
        d.metrics.errors.inc({ code: wire.code, side });
        next(wire);
      },
    );
  });
}
