// The node bus contract: every message and request one bridge node sends another, with its
// payload and (for requests) its reply. On the wire a message is `{ t, ...payload }` inside an
// envelope `{ from, m: [...] }` published on the receiver's node channel or the broadcast channel.
import type { ChunkMeta, InputItem, StateItem } from '../../shared/protocol.js';
import type { Binaries } from './binaries.js';

/** One-way messages, by type. */
export interface NodeMessages {
  /** An input for a server whose link is on the receiving node; `a`: the last seq acknowledged to its client. */
  in: { s: string; i: InputItem; a: number };
  /** State for the receiving node's clients (players on it, or everyone for a broadcast). */
  st: { i: StateItem };
  /** End a player's session; the server's node detaches it and records the last applied seq. */
  leave: { s: string; player: string; session: string; node: string };
  /** A server's new link is up on the sending node: clients re-send what was in flight to the old one. */
  linked: { s: string };
  /** A node applied an authority update that asked for acknowledgement. */
  ack: { id: string };
  /** Emit an event (no acknowledgement) to a server linked on the receiving node. */
  emit: { s: string; e: string; p: unknown };
  /** Release frozen players on the receiving node: replay their buffered inputs to their owner. */
  thaw: { players: string[]; token: string };
  /** A server-to-server message for server `s` (or every ready server linked there but `from`, when `s` is '*'). */
  smsg: { s: string; from: string; topic: string; payload: unknown };
  /** A server's autosave was stored: per player, the seq it covers (its link stamps it on the player's next state). */
  saved: { s: string; p: Record<string, number> };
  /** The sending node started a new incarnation of the map (it lost data): look at the marker and restore now. */
  world: { n: number };
  /** Chunks a server uploaded through the sending node in the last sync interval, for every other server. */
  manifest: { from: string; chunks: ChunkMeta[] };
}

/** Requests, by op: what is asked and what the answer is (null when the receiver has no handler). */
export interface NodeRequests {
  /**
   * Emit an event with an acknowledgement to a server linked there. An export's answer names the exported
   * players still owed a resync (recovered, no input since), which the move passes on to the next owner.
   */
  ask: { body: { s: string; e: string; p: unknown; ms: number }; reply: { reply: unknown; resync?: string[] } | { error: string } };
  /**
   * A session starts: the last seq the server's link there delivered to the player (0 when not attached yet), or
   * null when that node holds no link of the server.
   */
  resume: { body: { s: string; player: string }; reply: { seq: number } | null };
  /** Freeze players' inputs on that node (buffered until thaw); how many were frozen there. */
  freeze: { body: { players: string[]; token: string; status: 'transferring' | 'recovering' }; reply: { frozen: number } };
  /** A server-to-server call for server `s` linked there; `ms`: how long the caller waits. */
  rpc: {
    body: { s: string; from: string; method: string; payload: unknown; ms: number };
    reply: { result: unknown } | { error: string } | { code: 'NO_SERVER' | 'TIMEOUT'; message: string };
  };
}

export type NodeMessageType = keyof NodeMessages;
export type NodeRequestOp = keyof NodeRequests;
export type NodeMessage = { [K in NodeMessageType]: { t: K } & NodeMessages[K] }[NodeMessageType];
export type RequestBody<K extends NodeRequestOp> = NodeRequests[K]['body'];
export type RequestReply<K extends NodeRequestOp> = NodeRequests[K]['reply'];

/** What travels: the one-way messages, plus requests and their answers. */
export type BusFrame =
  | NodeMessage
  | { t: 'req'; id: number; op: NodeRequestOp; body: unknown; b?: Binaries }
  | { t: 'res'; id: number; body: unknown; b?: Binaries };

export interface Envelope {
  from: string;
  m: BusFrame[];
}
