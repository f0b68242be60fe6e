// Traffic between bridge nodes over Redis pub/sub. Messages are queued per destination and
// published once per event-loop turn, so a burst of inputs or state costs one PUBLISH per
// destination node, not one per message. Order is kept per (sender, destination).
import type { Redis } from 'ioredis';
import type { Keys } from '../shared/keys.js';
import type { InputItem, StateItem } from '../shared/protocol.js';

export type NodeMessage =
  /** An input for a server whose link is on the receiving node; `a`: the last seq acknowledged to its client. */
  | { t: 'in'; s: string; i: InputItem; a: number }
  /** State for the receiving node's clients (players on it, or everyone for a broadcast). */
  | { t: 'st'; i: StateItem }
  /** End a player's session; the server's node detaches it and records the last applied seq. */
  | { t: 'leave'; s: string; player: string; session: string; node: string }
  /** A server's new link is up on the sending node: clients re-send what was in flight to the old one. */
  | { t: 'linked'; s: string }
  /** A node applied an authority update that asked for acknowledgement. */
  | { t: 'ack'; id: string }
  /** Emit an event to a server linked on the receiving node. */
  | { t: 'emit'; s: string; e: string; p: unknown }
  /** Release frozen players on the receiving node: replay their buffered inputs to their owner. */
  | { t: 'thaw'; players: string[]; token: string }
  | { t: 'req'; id: number; body: NodeRequest }
  | { t: 'res'; id: number; body: unknown };

/** Requests one node makes of another, answered with `res`. */
export type NodeRequest =
  /** Emit an event with an acknowledgement to a server linked there; answers { reply } or { error }. */
  | { op: 'ask'; s: string; e: string; p: unknown; ms: number }
  /** A session starts: answers { seq }, the last seq the player's link delivered, or null. */
  | { op: 'resume'; s: string; player: string; epoch: number }
  /** Freeze players' inputs on that node (buffered until thaw); answers { frozen }. */
  | { op: 'freeze'; players: string[]; token: string; status: 'transferring' | 'recovering' };

interface Envelope {
  from: string;
  m: NodeMessage[];
}

export class NodeBus {
  private readonly queues = new Map<string, NodeMessage[]>();
  private scheduled = false;
  private handler: (msg: NodeMessage, from: string) => void = () => {};
  private requestHandler: (body: NodeRequest) => Promise<unknown> = () => Promise.resolve(null);
  private readonly waiting = new Map<number, (body: unknown) => void>();
  private nextRequestId = 1;
  published = 0;

  constructor(
    private readonly pub: Redis,
    private readonly keys: Keys,
    readonly nodeId: string,
    /** Told of a message that failed to encode or to be handled (it is dropped; the node goes on). */
    private readonly onFailure: (err: unknown, what: string) => void,
  ) {}

  onMessage(handler: (msg: NodeMessage, from: string) => void): void {
    this.handler = handler;
  }

  onRequest(handler: (body: NodeRequest) => Promise<unknown>): void {
    this.requestHandler = handler;
  }

  /** Asks another node; rejects after timeoutMs without an answer. */
  request(node: string, body: NodeRequest, timeoutMs: number): Promise<unknown> {
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`node ${node} did not answer ${body.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, (answer) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(answer);
      });
      this.send(node, { t: 'req', id, body });
    });
  }

  /** To this node itself, delivery is synchronous: it keeps order with direct local calls. */
  send(node: string, msg: NodeMessage): void {
    if (node === this.nodeId) this.dispatch(msg, node);
    else this.enqueue(this.keys.nodeChannel(node), msg);
  }

  broadcast(msg: NodeMessage): void {
    this.enqueue(this.keys.broadcastChannel, msg);
  }

  /** Called by the subscriber for the node and broadcast channels. One bad message never stops the others. */
  receive(raw: string): void {
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

  private dispatch(m: NodeMessage, from: string): void {
    if (m.t === 'req') {
      this.requestHandler(m.body).then(
        (body) => this.send(from, { t: 'res', id: m.id, body }),
        () => this.send(from, { t: 'res', id: m.id, body: null }),
      );
    } else if (m.t === 'res') this.waiting.get(m.id)?.(m.body);
    else this.handler(m, from);
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
        const ok = m.filter((msg) => { try { JSON.stringify(msg); return true; } catch { return false; } });
        payload = JSON.stringify({ from: this.nodeId, m: ok } satisfies Envelope);
      }
      this.published++;
      this.pub.publish(channel, payload).catch(() => {});
    }
    this.queues.clear();
  }

  private enqueue(channel: string, msg: NodeMessage): void {
    const q = this.queues.get(channel);
    if (q) q.push(msg);
    else this.queues.set(channel, [msg]);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }
}
