// Servers talk to each other through the bridge (seed 000: "use other servers as a thread"):
// `rpc` calls a method on another server and waits for its answer; `message` is one-way, to one
// server or to every ready server (`*`, one publish for all nodes). Calls are at most once (never
// retried), bounded by the caller's timeout (its own timer: a target or node that dies mid-call
// ends in TIMEOUT), by payload size and by a per-server rate.
import type { Logger } from 'winston';
import type { BridgeConfig } from '../../shared/config.js';
import {
  ErrorCode, RPC_DEFAULT_TIMEOUT_MS, RpcAnswerSchema, RpcRequestSchema, ServerMessageSchema, type RpcResult,
} from '../../shared/protocol.js';
import { TokenBucket } from '../../shared/token-bucket.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { NodeBus } from '../bus/node-bus.js';
import type { Metrics } from '../ops/metrics.js';
import type { ServerLink, ServerLinks } from '../relay/server-link.js';

export class ServerRpc {
  private readonly buckets = new WeakMap<ServerLink, TokenBucket>();

  constructor(
    private readonly config: BridgeConfig,
    private readonly cache: AuthorityCache,
    private readonly links: ServerLinks,
    private readonly bus: NodeBus,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    bus.answer('rpc', (body) => this.deliverCall(body));
    bus.on('smsg', (m) => this.deliverMessage(m.s, m.from, m.topic, m.payload));
  }

  /** A server's `rpc`: checked, then asked of the target through its node. Refusals are counted where they are answered. */
  async call(link: ServerLink, raw: unknown): Promise<RpcResult> {
    const fail = (code: ErrorCode, message: string): RpcResult => {
      this.metrics.rpcCalls.inc({ outcome: code });
      return { ok: false, code, message };
    };
    const parsed = RpcRequestSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return fail(
        ErrorCode.BadInput,
        `rpc must be { to, method, payload?, timeoutMs? (1..30000) }: ${issue ? `${issue.path.join('.')}: ${issue.message}` : ''}`,
      );
    }
    const req = parsed.data;
    const tooBig = this.oversized(req.payload);
    if (tooBig) return fail(ErrorCode.BadInput, tooBig);
    if (!this.bucket(link).take()) return fail(ErrorCode.RateLimited, `more than ${this.config.rpcPerSecond} rpc and messages per second`);
    const target = this.cache.servers.get(req.to);
    if (!target || target.status !== 'ready' || !target.node) return fail(ErrorCode.NoServer, `server ${req.to} is unknown or not ready`);
    const ms = req.timeoutMs ?? RPC_DEFAULT_TIMEOUT_MS;
    const reply = await this.bus
      .request(target.node, 'rpc', { s: req.to, from: link.serverId, method: req.method, payload: req.payload ?? null, ms }, ms)
      .catch(() => ({ code: 'TIMEOUT' as const, message: `${req.to} did not answer ${req.method} within ${ms} ms` }));
    if (!reply) return fail(ErrorCode.NoServer, `server ${req.to} is not linked where the map says`);
    if ('code' in reply) return fail(reply.code === 'TIMEOUT' ? ErrorCode.Timeout : ErrorCode.NoServer, reply.message);
    if ('error' in reply) return fail(ErrorCode.RemoteError, `${req.to} answered ${req.method} with an error: ${reply.error}`);
    this.metrics.rpcCalls.inc({ outcome: 'ok' });
    return { ok: true, result: reply.result };
  }

  /** A server's `message`: to one server, or to every ready server but the sender (`*`). */
  send(link: ServerLink, raw: unknown): void {
    const parsed = ServerMessageSchema.safeParse(raw);
    if (!parsed.success) return link.error(ErrorCode.BadInput, 'message must be { to: server id or "*", topic, payload? }');
    const m = parsed.data;
    const tooBig = this.oversized(m.payload);
    if (tooBig) return link.error(ErrorCode.BadInput, tooBig);
    if (!this.bucket(link).take())
      return link.error(ErrorCode.RateLimited, `more than ${this.config.rpcPerSecond} rpc and messages per second`);
    const msg = { t: 'smsg' as const, s: m.to, from: link.serverId, topic: m.topic, payload: m.payload ?? null };
    if (m.to === '*') {
      this.deliverMessage('*', link.serverId, m.topic, msg.payload);
      return this.bus.broadcast(msg);
    }
    const target = this.cache.servers.get(m.to);
    if (!target || target.status !== 'ready' || !target.node)
      return link.error(ErrorCode.NoServer, `message: server ${m.to} is unknown or not ready`);
    this.bus.send(target.node, msg);
  }

  private async deliverCall(b: { s: string; from: string; method: string; payload: unknown; ms: number }) {
    const link = this.links.get(b.s);
    if (!link) return { code: 'NO_SERVER' as const, message: `server ${b.s} is not linked here` };
    try {
      const answer: unknown = await link.socket.timeout(b.ms).emitWithAck('rpc', { from: b.from, method: b.method, payload: b.payload });
      const parsed = RpcAnswerSchema.safeParse(answer);
      if (!parsed.success) return { error: `malformed answer from ${b.s} (expected { result } or { error })` };
      if ('error' in parsed.data) return { error: parsed.data.error };
      // A result is held to the same size as a request: one server cannot push megabytes through every node on its way.
      const tooBig = this.oversized(parsed.data.result);
      return tooBig ? { error: `result too large: ${tooBig}` } : { result: parsed.data.result };
    } catch {
      return { code: 'TIMEOUT' as const, message: `${b.s} did not answer ${b.method} within ${b.ms} ms` };
    }
  }

  private deliverMessage(to: string, from: string, topic: string, payload: unknown): void {
    const targets = to === '*'
      ? [...this.links.values()].filter((l) => l.serverId !== from && this.cache.servers.get(l.serverId)?.status === 'ready')
      : [this.links.get(to)].filter((l): l is ServerLink => l !== undefined);
    for (const link of targets) {
      this.metrics.serverMessages.inc();
      link.socket.emit('message', { from, topic, payload });
    }
    if (targets.length === 0 && to !== '*') this.logger.debug('message for a server not linked here', { to, from, topic });
  }

  private oversized(payload: unknown): string | undefined {
    const bytes = Buffer.byteLength(JSON.stringify(payload ?? null));
    return bytes > this.config.maxRpcBytes ? `payload of ${bytes} bytes is over maxRpcBytes (${this.config.maxRpcBytes})` : undefined;
  }

  private bucket(link: ServerLink): TokenBucket {
    let b = this.buckets.get(link);
    if (!b) {
      b = new TokenBucket(this.config.rpcPerSecond, this.config.rpcBurst);
      this.buckets.set(link, b);
    }
    return b;
  }
}
