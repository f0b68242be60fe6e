import type { ErrorCode } from '../shared/protocol.js';

/** A refusal with a wire code; thrown in handshake middleware, it reaches the peer as connect_error data. */
export class WireError extends Error {
  readonly data: { code: ErrorCode };

  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.data = { code };
  }
}
