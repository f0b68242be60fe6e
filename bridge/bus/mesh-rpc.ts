// What a coordinator (on any node) needs from the rest of the mesh: ask a game server something
// through whichever node holds its link, and freeze or thaw players' inputs where they connect.
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import {
  ErrorCode,
  ServerReplySchemas,
  type AskedEvent,
  type BridgeToServerEvents,
  type ServerEventPayload,
  type ServerReply,
} from '../../shared/protocol.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import { WireError } from '../relay/wire-error.js';
import type { NodeBus } from './node-bus.js';

/** Added by the bridge to an export's reply: the exported players still owed a `resync` (see ServerLink.awaitingResync). */
export interface Resyncs {
  resync?: string[];
}

export interface Located {
  id: string;
  node: string;
}

export class MeshRpc {
  constructor(
    private readonly cache: AuthorityCache,
    private readonly bus: NodeBus,
    private readonly timeoutMs: number,
    private readonly liveNodes: () => Promise<string[]>,
  ) {}

  /**
   * Emits `event` to `server` and resolves with its acknowledgement, parsed by its schema: a game
   * server's reply is never trusted as is. No answer (from the server, or from its link's node, which may
   * have died), or a malformed one, is HANDOFF_FAILED (the caller rolls back), with the reason.
   */
  async ask<E extends AskedEvent>(server: string, event: E, payload: ServerEventPayload<E>): Promise<ServerReply<E> & Resyncs> {
    const node = this.cache.servers.get(server)?.node;
    if (!node) throw new WireError(ErrorCode.NoServer, `server ${server} is not connected`);
    const answer = await this.bus.request(node, 'ask', { s: server, e: event, p: payload, ms: this.timeoutMs }, this.timeoutMs + 500)
      .catch((err: Error) => { throw new WireError(ErrorCode.HandoffFailed, `${server} did not answer ${event}: ${err.message}`); });
    if (!answer || 'error' in answer)
      throw new WireError(ErrorCode.HandoffFailed, `${server} did not answer ${event}: ${answer?.error ?? 'no link'}`);
    const parsed = (ServerReplySchemas[event] as z.ZodType<ServerReply<E>>).safeParse(answer.reply);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new WireError(
        ErrorCode.HandoffFailed,
        `${server} answered ${event} with a malformed reply: ${issue ? `${issue.path.join('.')}: ${issue.message}` : '?'}`,
      );
    }
    // Every asked reply's schema is an object (a zod copy): the bridge's own note goes beside the server's fields.
    const reply = parsed.data as ServerReply<E> & Resyncs;
    if (answer.resync) Object.assign(reply as object, { resync: answer.resync });
    return reply;
  }

  tell<E extends keyof BridgeToServerEvents>(server: string, event: E, payload: ServerEventPayload<E>): void {
    const node = this.cache.servers.get(server)?.node;
    if (node) this.bus.send(node, { t: 'emit', s: server, e: event, p: payload });
  }

  /** Freezes the players' inputs on their nodes under a new token; resolves with it once every node has. */
  async freeze(players: Located[], status: 'transferring' | 'recovering'): Promise<string> {
    const token = randomUUID();
    // A session on a node that is gone needs no freeze (its client comes back elsewhere), and waiting for that node would stall the move.
    const live = new Set(await this.liveNodes());
    await Promise.all(
      [...byNode(players)].filter(([node]) => live.has(node)).map(([node, ids]) =>
        this.bus.request(node, 'freeze', { players: ids, token, status }, this.timeoutMs).catch(() => undefined),
      ),
    );
    return token;
  }

  thaw(players: Located[], token: string): void {
    for (const [node, ids] of byNode(players)) this.bus.send(node, { t: 'thaw', players: ids, token });
  }
}

function byNode(players: Located[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of players) {
    if (!p.node) continue;
    const list = out.get(p.node);
    if (list) list.push(p.id);
    else out.set(p.node, [p.id]);
  }
  return out;
}
