// Redis key layout. Every key of one world shares the hash tag `{world}`, so each Lua script
// touches one slot and the layout works unchanged on Redis Cluster (one world = one slot;
// several worlds spread over the cluster). See docs/operations.md "Redis keys".
//
// Keys join their parts with `:`, so an id holding one could name another id's key (a server
// `s2:players` would be s2's player set). The protocol's ids cannot hold one (ID_PATTERN), and
// every key built from an id checks it again here: one edge that forgot cannot reach another's records.
export class Keys {
  readonly base: string;

  constructor(private readonly prefix: string, private readonly world: string) {
    this.base = `${prefix}:{${world}}`;
  }

  /**
   * Channel: one area's state, published once per batch by the node of its owner's link, heard by
   * the nodes interested in it. Its own hash tag, so that on Redis Cluster sharded pub/sub spreads
   * the areas over the shards.
   */
  areaChannel(area: string): string { return `${this.prefix}:{${this.world}:${part(area)}}:state`; }

  /**
   * hash: the world's incarnation marker — id, n (one more at every rebuild), rev (counted up at every node heartbeat),
   * restoringUntil (ms): which map the nodes serve, and whether it lost data (bridge/authority/world-incarnation.ts).
   */
  get incarnation(): string { return `${this.base}:incarnation`; }
  /** hash: area id -> JSON {server, epoch}. The epoch survives release, so it only grows. */
  get areas(): string { return `${this.base}:areas`; }
  /** hash: server, area, epoch, node, session, seq (last applied input seq at last attach/leave). */
  player(id: string): string { return `${this.base}:player:${part(id)}`; }
  /** hash: power, load, status, node, epoch (registration count), registeredAt. */
  server(id: string): string { return `${this.base}:server:${part(id)}`; }
  /** hash: player -> last input seq delivered to the server (its links write it every heartbeat and on close). */
  serverDelivered(id: string): string { return `${this.base}:server:${part(id)}:delivered`; }
  /** set: players currently attached to the server. */
  serverPlayers(id: string): string { return `${this.base}:server:${part(id)}:players`; }
  /** zset: server id scored by first registration time (the network's join order). */
  get servers(): string { return `${this.base}:servers`; }
  /** zset: server id scored by lease deadline (ms, Redis clock). */
  get leases(): string { return `${this.base}:leases`; }
  /** hash: area id -> JSON of its last saved state (servers' "autosave", used by crash recovery). */
  get areaState(): string { return `${this.base}:area-state`; }
  /** hash: area id -> its load as last reported. */
  get areaLoad(): string { return `${this.base}:area-load`; }
  /** string with TTL: the area moved recently and stays put until it expires. */
  areaCooldown(area: string): string { return `${this.base}:cooldown:${part(area)}`; }
  /** string with TTL: the area is being moved; no player may be attached into it meanwhile. */
  areaMoving(area: string): string { return `${this.base}:moving:${part(area)}`; }
  /** BullMQ prefix: its keys share the world's hash tag. */
  get queuePrefix(): string { return this.base; }
  /** set: players whose session was opened on this bridge node (may hold stale entries). */
  nodePlayers(node: string): string { return `${this.base}:node:${part(node)}:players`; }
  /** hash: bridge node id -> JSON { clients, servers } as of its last heartbeat (the dashboard lists nodes). */
  get nodeInfo(): string { return `${this.base}:node-info`; }
  /** zset: bridge node id scored by heartbeat deadline (ms). */
  get nodes(): string { return `${this.base}:nodes`; }
  /** zset: bridge node id scored by when it first started (ms): the oldest live one posts the listing. */
  get nodesByAge(): string { return `${this.base}:nodes-by-age`; }
  /** string with TTL: the node that holds the listing lease. */
  get listingLeader(): string { return `${this.base}:listing-leader`; }

  /** hash: chunk id -> JSON { version, hash, size, owner, at } (the world data's index). */
  get chunkIndex(): string { return `${this.base}:chunks`; }
  /** hash: chunk hash -> how many index entries refer to its bytes (bytes no entry refers to are deleted). */
  get chunkRefs(): string { return `${this.base}:chunk-refs`; }
  /** string: a chunk's bytes, content-addressed by their SHA-256 (identical bytes are stored once). */
  chunkBytes(hash: string): string { return `${this.base}:chunk:${part(hash)}`; }

  /** stream: a chat channel's last `chatHistory` messages (`global`, `area:<a>`, `whisper:<p>`, `room:<r>`). */
  chatStream(channel: string): string { return `${this.base}:chat:${chatPart(channel)}`; }
  /** Channel: a chat channel's live messages and notices, heard by the nodes with a member. */
  chatChannel(channel: string): string { return `${this.base}:ch:chat:${chatPart(channel)}`; }
  /** hash with TTL: the player's chat token bucket (tokens, at), mesh-wide. */
  chatRate(player: string): string { return `${this.base}:chat-rate:${part(player)}`; }
  /** string with TTL: the player is muted. */
  chatMute(player: string): string { return `${this.base}:chat-mute:${part(player)}`; }
  /** set: the players in a chat room, on every node. */
  chatRoom(room: string): string { return `${this.base}:chat-room:${chatPart(room)}`; }

  /** Channel: authority-map changes, published by the Lua scripts themselves. */
  get authorityChannel(): string { return `${this.base}:ch:authority`; }
  /** Channel: node-bus traffic for every node (world state, one-to-all messages); area state has its own channels. */
  get broadcastChannel(): string { return `${this.base}:ch:all`; }
  /** Channel: traffic for one node (inputs for its server links, state for its clients). Its own hash tag, as areaChannel's. */
  nodeChannel(node: string): string { return `${this.prefix}:{${this.world}:node:${part(node)}}:ch`; }
}

/**
 * One id as a key part: never a separator or a hash-tag brace (the edges check ids; this is the floor). Empty is
 * "none" (a player with no server yet names `server::players`, which the scripts skip) and collides with no id.
 */
function part(id: string): string {
  if (/[:{}]/.test(id)) throw new Error(`"${id.slice(0, 80)}" cannot be part of a key (it holds : { or })`);
  return id;
}

/** A chat channel as a key part: `global`, or `<kind>:<id>` with an id as for part(). */
function chatPart(channel: string): string {
  const at = channel.indexOf(':');
  return at < 0 ? part(channel) : `${part(channel.slice(0, at))}:${part(channel.slice(at + 1))}`;
}
