-- player_leave: end a player's session and detach it from its server.
-- KEYS[1] player hash     KEYS[2] player set of the player's server (any key of the world if none)
-- KEYS[3] player set of the node the session was opened on
-- ARGV[1] player id     ARGV[2] session id     ARGV[3] server id the caller believes ('' if none)
-- ARGV[4] last applied input seq ('' = unknown, keep)     ARGV[5] authority channel
-- Returns 1 when applied; 0 when another session holds the player; -1 when the server differs.
-- Invariant: only the session that holds a player can end it. The area (last known area) and
-- seq stay, so the next join lands there and numbers inputs after the last applied one.
-- Last key and last argument: the world marker and the incarnation this node serves (world_guard).
--- @include "world_guard"
--- @include "announce_player"
local r = redis.call('HMGET', KEYS[1], 'session', 'server', 'epoch', 'area')
if r[1] ~= ARGV[2] then return 0 end
if (r[2] or '') ~= ARGV[3] then return -1 end
local epoch = next_epoch(tonumber(r[3] or '0'))
if ARGV[3] ~= '' then redis.call('SREM', KEYS[2], ARGV[1]) end
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[1], 'server', 'node', 'session')
redis.call('HSET', KEYS[1], 'epoch', epoch)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'seq', ARGV[4]) end
announce_player(ARGV[5], KEYS[1], { player = ARGV[1], server = '', area = r[4] or '', epoch = epoch })
return 1
