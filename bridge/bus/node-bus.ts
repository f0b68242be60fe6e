// Traffic between bridge nodes over Redis pub/sub (the contract is ./node-messages.ts). Messages
// are queued per destination and published once per event-loop turn, so a burst of inputs or
// state costs one SPUBLISH per destination node, not one per message. Order is kept per (sender,
// destination). Each part registers its own handlers: one per message type and one per request op.
import type { Logger } from 'winston';
import type { Keys } from '../../shared/keys.js';
import { ErrorCode } from '../../shared/protocol.js';
import type { Metrics } from '../ops/metrics.js';
import type { RedisClient } from '../authority/redis-connection.js';
import { putBinaries, takeBinaries } from './binaries.js';
import type { Subscriber } from './subscriber.js';
import type {
  BusFrame, Envelope, NodeMessage, NodeMessages, NodeMessageType, NodeRequestOp, RequestBody, RequestReply,
} from './node-messages.js';

type MessageHandler = (msg: never, from: string) => void;
type RequestHandler = (body: never, from: string) => unknown;

export class NodeBus {
  private readonly queues = new Map<string, BusFrame[]>();
  private scheduled = false;
  private readonly handlers = new Map<NodeMessageType, MessageHandler>();
  private readonly answerers = new Map<NodeRequestOp, RequestHandler>();
  private readonly waiting = new Map<number, (body: unknown) => void>();
  private nextRequestId = 1;

  constructor(
    private readonly pub: RedisClient,
    private readonly keys: Keys,
    readonly nodeId: string,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    sub: Subscriber,
  ) {
    for (const channel of [keys.broadcastChannel, keys.nodeChannel(nodeId)]) sub.route(channel, (raw) => this.receive(raw));
  }

  /** A message that failed to encode or to be handled is dropped, counted and logged; the node goes on. */
  private onFailure(err: unknown, what: string): void {
    this.metrics.errors.inc({ code: ErrorCode.Internal, side: 'node' });
    this.logger.error('node bus message failed', { what, err: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }

  /** Registers the handler of one message type (one per type: a second registration is a wiring bug). */
  on<K extends NodeMessageType>(type: K, handler: (msg: NodeMessages[K], from: string) => void): void {
    if (this.handlers.has(type)) throw new Error(`node bus: '${type}' already has a handler`);
    this.handlers.set(type, handler);
  }

  /** Registers the answer to one request op. */
  answer<K extends NodeRequestOp>(
    op: K,
    handler: (body: RequestBody<K>, from: string) => Promise<RequestReply<K>> | RequestReply<K>,
  ): void {
    if (this.answerers.has(op)) throw new Error(`node bus: '${op}' already has an answer`);
    this.answerers.set(op, handler);
  }

  /** Asks another node; resolves with its answer (null if it has none), rejects after timeoutMs. */
  request<K extends NodeRequestOp>(node: string, op: K, body: RequestBody<K>, timeoutMs: number): Promise<RequestReply<K> | null> {
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`node ${node} did not answer ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, (answer) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(answer as RequestReply<K> | null);
      });
      this.sendFrame(node, { t: 'req', id, op, body });
    });
  }

  /** To this node itself, delivery is synchronous: it keeps order with direct local calls. */
  send(node: string, msg: NodeMessage): void {
    this.sendFrame(node, msg);
  }

  broadcast(msg: NodeMessage): void {
    this.enqueue(this.keys.broadcastChannel, msg);
  }

  /** A batch from the node or broadcast channel. One bad message never stops the others. */
  private receive(raw: string): void {
    const env = JSON.parse(raw) as Envelope;
    if (env.from === this.nodeId) return;
    for (const m of env.m) {
      try {
        this.dispatch(m, env.from);
      } catch (err) {
        this.onFailure(err, m.t);
      }
    }
  }

  private sendFrame(node: string, frame: BusFrame): void {
    if (node === this.nodeId) return this.dispatch(frame, node);
    // Requests and replies may carry bytes (chunks); the hot-path messages are JSON-only by the wire's rules.
    if (frame.t === 'req' || frame.t === 'res') {
      const { value, bins } = takeBinaries(frame.body);
      if (bins.length > 0) frame = { ...frame, body: value, b: bins };
    }
    this.enqueue(this.keys.nodeChannel(node), frame);
  }

  private dispatch(m: BusFrame, from: string): void {
    if ((m.t === 'req' || m.t === 'res') && m.b) m = { ...m, body: putBinaries(m.body, m.b) };
    if (m.t === 'req') {
      const answerer = this.answerers.get(m.op);
      const reply = answerer ? Promise.resolve().then(() => answerer(m.body as never, from)) : Promise.resolve(null);
      reply.then(
        (body) => this.sendFrame(from, { t: 'res', id: m.id, body: body ?? null }),
        (err: unknown) => {
          this.onFailure(err, m.op);
          this.sendFrame(from, { t: 'res', id: m.id, body: null });
        },
      );
    } else if (m.t === 'res') this.waiting.get(m.id)?.(m.body);
    else this.handlers.get(m.t)?.(m as never, from);
  }

  /** Publishes everything queued now (also used before a planned shutdown). */
  flush(): void {
    this.scheduled = false;
    for (const [channel, m] of this.queues) {
      let payload: string;
      try {
        payload = JSON.stringify({ from: this.nodeId, m } satisfies Envelope);
      } catch (err) {
        // A message that cannot be encoded is dropped on its own; the rest of the batch goes out.
        this.onFailure(err, 'encode');
        const ok = m.filter((msg) => {
          try {
            JSON.stringify(msg);
            return true;
          } catch {
            return false;
          }
        });
        payload = JSON.stringify({ from: this.nodeId, m: ok } satisfies Envelope);
      }
      this.metrics.busPublishes.inc();
      this.pub.spublish(channel, payload).catch(() => {});
    }
    this.queues.clear();
  }

  private enqueue(channel: string, frame: BusFrame): void {
    const q = this.queues.get(channel);
    if (q) q.push(frame);
    else this.queues.set(channel, [frame]);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }
}
