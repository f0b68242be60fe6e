// Loads the Lua scripts of ./lua onto a connection with ioredis' defineCommand, after resolving
// their `--- @include "name"` lines from ./lua/includes (the pieces several scripts share, written
// once, as BullMQ does). Each group goes to its one user: only the AuthorityWriter gets the scripts
// that change who owns what; the world-data store and the listing have their own.
import { readFileSync } from 'node:fs';
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

function define<T>(redis: RedisClient, list: [keyof T & string, string, number | undefined][]): T {
  for (const [name, file, numberOfKeys] of list) {
    redis.defineCommand(name, numberOfKeys === undefined ? { lua: scriptSource(file) } : { numberOfKeys, lua: scriptSource(file) });
  }
  const out = {} as Record<string, Call>;
  const commands = redis as unknown as Record<string, Call>;
  for (const [name] of list) out[name] = commands[name]!.bind(redis);
  return out as T;
}

export interface Scripts {
  ownership: OwnershipScripts;
  records: RecordScripts;
  chunks: ChunkScripts;
  listing: ListingScripts;
  chat: ChatScripts;
  clock: ClockScripts;
}

export function loadScripts(redis: RedisClient): Scripts {
  return {
    ownership: define<OwnershipScripts>(redis, OWNERSHIP),
    records: define<RecordScripts>(redis, RECORDS),
    chunks: define<ChunkScripts>(redis, CHUNKS),
    listing: define<ListingScripts>(redis, LISTING),
    chat: define<ChatScripts>(redis, CHAT),
    clock: define<ClockScripts>(redis, CLOCK),
  };
}
