// The first and only place a peer's bytes become values. Socket.IO accepts a custom parser; this
// one decodes as socket.io-parser does, but first measures each message as received (its text and
// every binary attachment), checks its nesting depth on the raw text (re-encoding a deeply nested
// value overflows the stack: JSON.stringify, socket.io-parser's hasBinary) and refuses binary
// attachments except on the events that carry bytes (a server's `sync:put`), within their limit.
// A refused event still reaches its handler, as an unforgeable `Refusal` in place of its payload
// (JSON cannot produce a class instance), so it is answered with a code like any other bad message
// and the connection stays open. Frames that are not Socket.IO packets at all are counted and
// close the connection (Socket.IO's own behaviour).
import * as base from 'socket.io-parser';
import type { Socket } from 'socket.io';
import type { Logger } from 'winston';
import { ErrorCode } from '../../shared/protocol.js';
import type { Metrics } from '../ops/metrics.js';

export class Refusal {
  constructor(readonly code: ErrorCode, readonly message: string) {}
}

type ByteLimit = { bytes: number; code: ErrorCode };

export interface WireLimits {
  /** Deepest nesting of `[` / `{` in a message's JSON, the event's argument array included. */
  maxDepth: number;
  /** Per namespace and event, the largest message in bytes as received ("/client input"). */
  eventBytes: Record<string, ByteLimit>;
  /** Per namespace and event, those that may carry binary attachments, and their total bytes at most. */
  binaryEvents: Record<string, ByteLimit>;
}

interface Packet {
  type: base.PacketType;
  nsp: string;
  id?: number;
  data?: unknown;
  attachments?: number;
}

/** True if the JSON text nests deeper than `max` (strings skipped); linear, no allocation. */
export function nestsDeeperThan(text: string, max: number): boolean {
  if (text.length <= max) return false; // cannot open more than `max` brackets
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) return true;
    } else if (c === 93 || c === 125) depth--;
  }
  return false;
}

const sideOf = (nsp: string | undefined): string => (nsp === '/client' ? 'client' : nsp === '/server' ? 'server' : 'wire');

/** A socket.io-parser compatible module (Server option `parser`) that enforces `limits`. */
export function guardedParser(limits: WireLimits, metrics: Metrics): typeof base {
  class GuardedDecoder extends base.Decoder {
    /**
     * A binary packet whose attachments are still to come: kept (`buffers`) when its event may carry
     * them and they stay within its limit, else swallowed and the event refused.
     */
    private skipping: { packet: Packet; left: number; buffers?: Buffer[]; bytes: number; limit?: ByteLimit } | undefined;

    override add(obj: unknown): void {
      try {
        if (typeof obj === 'string') this.addText(obj);
        else this.addBinary(obj);
      } catch (err) {
        metrics.errors.inc({ code: ErrorCode.BadFrame, side: sideOf(this.skipping?.packet.nsp) });
        this.skipping = undefined;
        throw err; // Socket.IO closes a connection whose frames cannot be decoded
      }
    }

    private addText(text: string): void {
      if (this.skipping) throw new Error('got text while a binary packet was pending');
      // socket.io-parser's own decoding of one packet (private in its typings, public in its code).
      const packet = (this as unknown as { decodeString(s: string): Packet }).decodeString(text);
      const event: unknown = Array.isArray(packet.data) ? packet.data[0] : undefined;
      const isEvent = packet.type === base.PacketType.EVENT || packet.type === base.PacketType.BINARY_EVENT;
      if (nestsDeeperThan(text, limits.maxDepth)) {
        if (!isEvent) throw new Error(`packet nested deeper than ${limits.maxDepth}`);
        return this.refuse(packet, event, ErrorCode.BadInput, `message nested deeper than ${limits.maxDepth} levels`);
      }
      if (packet.attachments !== undefined) {
        const limit = typeof event === 'string' ? limits.binaryEvents[`${packet.nsp} ${event}`] : undefined;
        packet.type = base.PacketType.EVENT;
        this.skipping = { packet, left: packet.attachments, bytes: 0, ...(limit ? { limit, buffers: [] } : {}) };
        if (packet.attachments === 0) this.finishBinary();
        return;
      }
      const limit = typeof event === 'string' ? limits.eventBytes[`${packet.nsp} ${event}`] : undefined;
      if (limit && text.length * 3 > limit.bytes) {
        // UTF-8 needs at most 3 bytes per UTF-16 unit: count exactly only when it could matter.
        const bytes = Buffer.byteLength(text);
        if (bytes > limit.bytes) return this.refuse(packet, event, limit.code, `message of ${bytes} bytes, over ${limit.bytes}`);
      }
      this.emitReserved('decoded', packet);
    }

    private addBinary(obj: unknown): void {
      const s = this.skipping;
      if (!s) throw new Error('got binary data outside a binary packet');
      const buffer = Buffer.isBuffer(obj) ? obj : Buffer.from(obj as ArrayBuffer);
      s.bytes += buffer.length;
      s.buffers?.push(buffer);
      if (--s.left > 0) return;
      this.finishBinary();
    }

    private finishBinary(): void {
      const s = this.skipping!;
      this.skipping = undefined;
      const event: unknown = Array.isArray(s.packet.data) ? s.packet.data[0] : undefined;
      if (!s.limit || !s.buffers) return this.refuse(s.packet, event, ErrorCode.BadInput, 'binary attachments are not accepted here');
      if (s.bytes > s.limit.bytes) {
        return this.refuse(s.packet, event, s.limit.code, `binary data of ${s.bytes} bytes, over ${s.limit.bytes}`);
      }
      this.emitReserved('decoded', { ...s.packet, data: withAttachments(s.packet.data, s.buffers) });
    }

    private refuse(packet: Packet, event: unknown, code: ErrorCode, message: string): void {
      if (packet.type !== base.PacketType.EVENT && packet.type !== base.PacketType.BINARY_EVENT) {
        throw new Error(message);
      }
      const name = typeof event === 'string' ? event : 'message';
      this.emitReserved('decoded', {
        type: base.PacketType.EVENT,
        nsp: packet.nsp,
        ...(packet.id === undefined ? {} : { id: packet.id }),
        data: [name, new Refusal(code, message)],
      });
    }

    override destroy(): void {
      this.skipping = undefined;
      super.destroy();
    }
  }
  return { ...base, Decoder: GuardedDecoder };
}

/**
 * Puts the attachments in place of their placeholders (`{ _placeholder: true, num }`), as
 * socket.io-parser's reconstructPacket does (it is not exported). The depth is already bounded.
 */
function withAttachments(data: unknown, buffers: Buffer[]): unknown {
  if (Array.isArray(data)) return data.map((v) => withAttachments(v, buffers));
  if (typeof data !== 'object' || data === null) return data;
  const o = data as Record<string, unknown>;
  if (o._placeholder === true) {
    const n = o.num;
    return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < buffers.length ? buffers[n] : undefined;
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, withAttachments(v, buffers)]));
}

type Handler = (...args: never[]) => unknown;
type Ack = (reply: unknown) => void;

/**
 * Registers an event handler that never lets one message take the process down: a `Refusal` from
 * the parser is answered with its code, and anything the handler throws (or rejects with) is
 * logged, counted and answered with INTERNAL. `answer(code, message, ack)` tells the peer.
 */
export function guardedOn(
  socket: Socket, event: string, logger: Logger, answer: (code: ErrorCode, message: string, ack: Ack | undefined) => void, handler: Handler,
): void {
  socket.on(event, (...args: unknown[]) => {
    const last = args[args.length - 1];
    const ack = typeof last === 'function' ? (last as Ack) : undefined;
    const refusal = args.find((a) => a instanceof Refusal);
    if (refusal) return answer(refusal.code, refusal.message, ack);
    const fail = (err: unknown) => {
      logger.error('handler failed', { event, err: err instanceof Error ? err.stack ?? err.message : String(err) });
      answer(ErrorCode.Internal, `could not handle '${event}'`, ack);
    };
    try {
      const result = (handler as (...a: unknown[]) => unknown)(...args);
      if (result instanceof Promise) result.catch(fail);
    } catch (err) {
      fail(err);
    }
  });
}
