// The Socket.IO server of a node: WebSocket only, the guarded parser (./wire-guard.ts), browsers
// from allowed origins only, and no default namespace: /client and /server speak the protocol.
import type { Server as HttpServer } from 'node:http';
import { Server as IoServer, type Namespace } from 'socket.io';
import type { BridgeConfig } from '../../shared/config.js';
import {
  CLIENT_NAMESPACE, ErrorCode, SERVER_NAMESPACE,
  type BridgeToClientEvents, type BridgeToServerEvents, type ClientToBridgeEvents, type ServerToBridgeEvents,
} from '../../shared/protocol.js';
import type { Metrics } from '../ops/metrics.js';
import { WireError } from './wire-error.js';
import { guardedParser } from './wire-guard.js';

/** The namespaces, typed by their side of the contract (`data` is set by each handshake). */
export type ClientNamespace = Namespace<ClientToBridgeEvents, BridgeToClientEvents, Record<string, never>, { joined?: unknown }>;
export type ServerNamespace = Namespace<ServerToBridgeEvents, BridgeToServerEvents, Record<string, never>, { registered?: unknown }>;

/** Room in a frame beyond maxChunkBytes: a chunk up to this much too large is still answered with a code. */
export const SYNC_FRAME_SLACK_BYTES = 64 * 1024;

export function createSocketServer(
  http: HttpServer, config: BridgeConfig, metrics: Metrics,
): { io: IoServer; clients: ClientNamespace; servers: ServerNamespace } {
  const parser = guardedParser({
    maxDepth: config.maxJsonDepth,
    eventBytes: { [`${CLIENT_NAMESPACE} input`]: { bytes: config.maxInputBytes, code: ErrorCode.InputTooLarge } },
    binaryEvents: { [`${SERVER_NAMESPACE} sync:put`]: { bytes: config.maxChunkBytes, code: ErrorCode.ChunkTooLarge } },
  }, metrics);
  // A frame must fit a whole chunk, so that one a little too large is refused with CHUNK_TOO_LARGE, not cut off.
  const frameBytes = Math.max(config.maxMessageBytes, config.maxChunkBytes + SYNC_FRAME_SLACK_BYTES);
  const origins = new Set(config.corsOrigins?.split(' ') ?? []);
  const io = new IoServer(http, {
    transports: ['websocket'], maxHttpBufferSize: frameBytes, serveClient: false, parser,
    // Browsers connect from this node's own origin (the dashboard) or an allowed one; programs send no Origin.
    allowRequest: (req, done) => {
      const origin = req.headers.origin;
      if (origin === undefined || origins.has(origin) || new URL(origin).host === req.headers.host) return done(null, true);
      metrics.errors.inc({ code: 'ORIGIN_NOT_ALLOWED', side: 'http' });
      done(`origin ${origin} is not allowed (corsOrigins)`, false);
    },
  });
  io.of('/').use((_socket, next) => {
    metrics.errors.inc({ code: ErrorCode.BadHandshake, side: 'wire' });
    next(new WireError(ErrorCode.BadHandshake, `connect to ${CLIENT_NAMESPACE} or ${SERVER_NAMESPACE}`));
  });
  // One server, two contracts: each namespace gets its own event maps.
  const clients = io.of(CLIENT_NAMESPACE) as unknown as ClientNamespace;
  return { io, clients, servers: io.of(SERVER_NAMESPACE) as unknown as ServerNamespace };
}
