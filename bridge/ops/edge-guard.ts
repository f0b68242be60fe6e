// The floor under every entry point that a request from outside runs through before the protocol's
// own guards (engine.io's allowRequest, namespace middleware, express): an exception there is our
// fault, and it must cost one request, never the process and the thousands of sessions it holds.
import { randomUUID } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorCode } from '../../shared/protocol.js';
import type { Logger } from 'winston';
import type { Metrics } from './metrics.js';

/** The places a fault is caught, as `meshbridge_faults_total{where}` names them. */
export type EdgePoint = 'allowRequest' | 'handshake' | 'http' | 'uncaught';

export class EdgeGuard {
  /** Points that throw once on their next call (TestHook.injectFault): the catch path is then tested for real. */
  private readonly injected = new Set<EdgePoint>();

  constructor(private readonly metrics: Metrics, private readonly logger: Logger) {}

  /** Runs `fn`; if it throws, the fault is logged and counted and `recover` answers the request instead. */
  run(where: EdgePoint, fn: () => void, recover: (requestId: string) => void): void {
    try {
      this.trip(where);
      fn();
    } catch (err) {
      recover(this.fault(where, err));
    }
  }

  /** Throws if a fault was injected at `where` (for entry points whose framework already catches, e.g. express). */
  trip(where: EdgePoint): void {
    if (this.injected.delete(where)) throw new Error(`fault injected at ${where}`);
  }

  /** Logs and counts a caught exception; the returned request id is what the answer (a 500) and the log share. */
  fault(where: EdgePoint, err: unknown): string {
    const requestId = randomUUID();
    this.metrics.faults.inc({ where });
    this.logger.error('fault caught', { where, requestId, err: err instanceof Error ? err.stack ?? err.message : String(err) });
    return requestId;
  }

  inject(where: EdgePoint): void {
    this.injected.add(where);
  }
}

/**
 * What a bridge process does with an exception nothing caught (docs/operations.md "Faults"): it logs, counts
 * and serves on, since every Redis write is one atomic script and a node holds nothing Redis cannot
 * rebuild; only `limit` of them within `windowMs` say the process itself is broken, and it is closed and
 * restarted by its supervisor.
 */
export class FaultBudget {
  private readonly at: number[] = [];

  constructor(private readonly limit = 10, private readonly windowMs = 60_000) {}

  /** Records one fault at `now` (ms); true once there were `limit` within the window. */
  spend(now: number): boolean {
    this.at.push(now);
    while (this.at.length > 0 && this.at[0]! <= now - this.windowMs) this.at.shift();
    return this.at.length >= this.limit;
  }
}

/**
 * The node's HTTP server: a request must arrive whole within `httpRequestTimeoutMs` (a body that trickles
 * holds no socket for Node's default 5 minutes), and what Node's parser refuses before express sees it
 * (malformed or oversized headers, smuggling-shaped lengths, unknown methods) is answered and counted.
 */
export function createHttpServer(config: { httpRequestTimeoutMs: number }, metrics: Metrics): HttpServer {
  const ms = config.httpRequestTimeoutMs;
  const http = createServer({ requestTimeout: ms, headersTimeout: ms, connectionsCheckingInterval: Math.min(ms, 1000) });
  http.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const [status, text] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : [400, 'Bad Request'];
    metrics.errors.inc({ code: ErrorCode.BadInput, side: 'http' });
    const body = JSON.stringify({ error: { code: ErrorCode.BadInput, message: `${text} (${err.code ?? 'malformed request'})` } });
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\n`
      + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
  return http;
}
