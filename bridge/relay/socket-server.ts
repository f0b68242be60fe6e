// The Socket.IO server of a node: WebSocket only, the guarded parser (./wire-guard.ts), browsers
// from allowed origins only, and no default namespace: /client and /server speak the protocol.
import type { Server as HttpServer } from 'node:http';
import { Server as IoServer, type Namespace } from 'socket.io';
import { heartbeat, type BridgeConfig } from '../../shared/config.js';
import {
  CLIENT_NAMESPACE, ErrorCode, SERVER_NAMESPACE,
  type BridgeToClientEvents, type BridgeToServerEvents, type ClientToBridgeEvents, type ServerToBridgeEvents,
} from '../../shared/protocol.js';
import type { EdgeGuard } from '../ops/edge-guard.js';
import type { Metrics } from '../ops/metrics.js';
import { WireError } from './wire-error.js';
import { guardedParser } from './wire-guard.js';

/** The namespaces, typed by their side of the contract (`data` is set by each handshake). */
export type ClientNamespace = Namespace<ClientToBridgeEvents, BridgeToClientEvents, Record<string, never>, { joined?: unknown }>;
export type ServerNamespace = Namespace<ServerToBridgeEvents, BridgeToServerEvents, Record<string, never>, { registered?: unknown }>;

/** Room in a frame beyond maxChunkBytes: a chunk up to this much too large is still answered with a code. */
export const SYNC_FRAME_SLACK_BYTES = 64 * 1024;

export function createSocketServer(
  http: HttpServer, config: BridgeConfig, metrics: Metrics, edge: EdgeGuard,
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
    transports: ['websocket'], maxHttpBufferSize: frameBytes, serveClient: false, parser, ...heartbeat(config),
    // engine.io calls this before anything else of ours; whatever it throws would end the process (guarded).
    allowRequest: (req, done) => edge.run('allowRequest', () => {
      const why = originRefusal(req.headers.origin, req.headers.host, origins);
      if (why === undefined) return done(null, true);
      metrics.errors.inc({ code: ErrorCode.OriginNotAllowed, side: 'http' });
      done(`${ErrorCode.OriginNotAllowed}: ${why}`, false);
    }, (requestId) => done(`${ErrorCode.Internal}: request ${requestId} failed`, false)),
  });
  io.of('/').use((_socket, next) => {
    metrics.errors.inc({ code: ErrorCode.BadHandshake, side: 'wire' });
    next(new WireError(ErrorCode.BadHandshake, `connect to ${CLIENT_NAMESPACE} or ${SERVER_NAMESPACE}`));
  });
  // One server, two contracts: each namespace gets its own event maps.
  const clients = io.of(CLIENT_NAMESPACE) as unknown as ClientNamespace;
  return { io, clients, servers: io.of(SERVER_NAMESPACE) as unknown as ServerNamespace };
}

/**
 * Why a browser's Origin is refused, or undefined when it may connect. Programs send no Origin; browsers
 * may come from this node's own origin (the dashboard) or a listed one. `null` (file pages, sandboxed
 * frames, some redirects) only when corsOrigins lists `null` on purpose; an origin that is not a URL never.
 */
export function originRefusal(origin: string | undefined, host: string | undefined, allowed: ReadonlySet<string>): string | undefined {
  if (origin === undefined || allowed.has(origin)) return undefined;
  if (origin === 'null') return 'origin null is not allowed (list "null" in corsOrigins to allow file pages and sandboxed frames)';
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return `origin ${JSON.stringify(origin.slice(0, 100))} is not a URL`;
  }
  return parsed.host === host ? undefined : `origin ${origin.slice(0, 100)} is not allowed (corsOrigins)`;
}
