// Loads the Lua scripts of ./lua onto a connection with ioredis' defineCommand, after resolving
// their `--- @include "name"` lines from ./lua/includes (the pieces several scripts share, written
// once, as BullMQ does). Each group goes to its one user: only the AuthorityWriter gets the scripts
// that change who owns what; the world-data store and the listing have their own. The scripts that
// write ownership, servers or sessions are guarded (world_guard.lua): each call is given the world
// marker as its last key and this node's incarnation as its last argument, here and nowhere else.
import { readFileSync } from 'node:fs';
import { ErrorCode } from '../../shared/protocol.js';
import { WireError } from '../relay/wire-error.js';
import type { RedisClient } from './redis-connection.js';

type Call = (...args: (string | number | Buffer)[]) => Promise<unknown>;

/** The compare-and-set scripts that change an area's or a player's owner (the AuthorityWriter's alone). */
export interface OwnershipScripts {
  areaAssign: Call;
  playerAssign: Call;
  /** Variadic: the first argument is the number of keys. */
  areaMigrate: Call;
}

/** Scripts that keep sessions, servers and autosaves (the AuthorityMap's). */
export interface RecordScripts {
  playerJoin: Call;
  playerLeave: Call;
  serverRegister: Call;
  serverReport: Call;
  serverDisconnect: Call;
  serverStatus: Call;
  /** Variadic: the first argument is the number of keys. */
  snapshotStore: Call;
}

/** The world-data index (the RedisChunkStore's). */
export interface ChunkScripts {
  chunkPut: Call;
}

/** The listing leader's lease (the NetworkListing's). */
export interface ListingScripts {
  listingLease: Call;
}

/** The world's incarnation marker: its look, a rebuild, a node's restore (the WorldIncarnation's). */
export interface WorldScripts {
  worldMark: Call;
  worldRebuild: Call;
  /** Variadic: the first argument is the number of keys. */
  worldRestore: Call;
}

/** What a guarded call needs: the marker's key, the incarnation this node serves, whom to tell when the map is lost. */
export interface WorldGuard {
  readonly markerKey: string;
  readonly incarnation: string;
  lost(reason: string): void;
}

/** The world's clock (the RedisClock's). */
export interface ClockScripts {
  worldTime: Call;
}

/** Chat history and its live publish (the ChatStore's). */
export interface ChatScripts {
  chatPost: Call;
}

/** Script name, file, number of keys (undefined: variadic, given with each call). */
const OWNERSHIP: [keyof OwnershipScripts, string, number | undefined][] = [
  ['areaAssign', 'area_assign.lua', 2],
  ['playerAssign', 'player_assign.lua', 6],
  ['areaMigrate', 'area_migrate.lua', undefined],
];
const RECORDS: [keyof RecordScripts, string, number | undefined][] = [
  ['playerJoin', 'player_join.lua', 2],
  ['playerLeave', 'player_leave.lua', 3],
  ['serverRegister', 'server_register.lua', 3],
  ['serverReport', 'server_report.lua', 3],
  ['serverDisconnect', 'server_disconnect.lua', 2],
  ['serverStatus', 'server_status.lua', 3],
  ['snapshotStore', 'snapshot_store.lua', undefined],
];

const CHUNKS: [keyof ChunkScripts, string, number][] = [['chunkPut', 'chunk_put.lua', 4]];
const LISTING: [keyof ListingScripts, string, number][] = [['listingLease', 'listing_lease.lua', 3]];

const CHAT: [keyof ChatScripts, string, number][] = [['chatPost', 'chat_post.lua', 4]];
const WORLD: [keyof WorldScripts, string, number | undefined][] = [
  ['worldMark', 'world_mark.lua', 1],
  ['worldRebuild', 'world_rebuild.lua', 1],
  ['worldRestore', 'world_restore.lua', undefined],
];
const CLOCK: [keyof ClockScripts, string, number][] = [['worldTime', 'world_time.lua', 1]];

const INCLUDE = /^--- @include "([a-z_]+)"$/gm;

/** A script's source with its includes in place (each once, where first named). */
export function scriptSource(file: string): string {
  const read = (path: string) => readFileSync(new URL(`./lua/${path}`, import.meta.url), 'utf8');
  const seen = new Set<string>();
  return read(file).replace(INCLUDE, (_line, name: string) => {
    if (seen.has(name)) return '';
    seen.add(name);
    return read(`includes/${name}.lua`).trimEnd();
  });
}

function define<T>(redis: RedisClient, list: [keyof T & string, string, number | undefined][], guard?: WorldGuard): T {
  const extra = guard ? 1 : 0;
  for (const [name, file, keys] of list) {
    redis.defineCommand(name, keys === undefined ? { lua: scriptSource(file) } : { numberOfKeys: keys + extra, lua: scriptSource(file) });
  }
  const out = {} as Record<string, Call>;
  const commands = redis as unknown as Record<string, Call>;
  for (const [name, , keys] of list) {
    const call = commands[name]!.bind(redis);
    out[name] = guard ? guarded(call, keys, guard) : call;
  }
  return out as T;
}

/** The call with the marker after its keys and the incarnation after its arguments; WORLD_LOST is NOT_READY. */
function guarded(call: Call, keys: number | undefined, guard: WorldGuard): Call {
  return async (...args) => {
    const variadic = keys === undefined;
    const n = variadic ? Number(args[0]) : keys;
    const rest = variadic ? args.slice(1) : args;
    const withMarker = [...rest.slice(0, n), guard.markerKey, ...rest.slice(n), guard.incarnation];
    try {
      return await call(...(variadic ? [n + 1, ...withMarker] : withMarker));
    } catch (err) {
      const message = (err as Error).message ?? '';
      if (!message.startsWith('WORLD_LOST')) throw err;
      guard.lost(message);
      throw new WireError(ErrorCode.NotReady, 'the world map lost data and is being rebuilt from the live parties; retry shortly');
    }
  };
}

export interface Scripts {
  ownership: OwnershipScripts;
  records: RecordScripts;
  chunks: ChunkScripts;
  listing: ListingScripts;
  chat: ChatScripts;
  clock: ClockScripts;
}

/** The incarnation marker's own scripts, unguarded (they are how a node learns its map was lost). */
export function loadWorldScripts(redis: RedisClient): WorldScripts {
  return define<WorldScripts>(redis, WORLD);
}

export function loadScripts(redis: RedisClient, guard: WorldGuard): Scripts {
  return {
    ownership: define<OwnershipScripts>(redis, OWNERSHIP, guard),
    records: define<RecordScripts>(redis, RECORDS, guard),
    chunks: define<ChunkScripts>(redis, CHUNKS),
    listing: define<ListingScripts>(redis, LISTING),
    chat: define<ChatScripts>(redis, CHAT),
    clock: define<ClockScripts>(redis, CLOCK),
  };
}
