-- player_assign: attach a player to the server that owns the player's (new) area.
-- KEYS[1] player hash     KEYS[2] areas hash
-- KEYS[3] player set of the player's current server (any key of the world if none)
-- KEYS[4] player set of the new server     KEYS[5] the area's "moving" marker     KEYS[6] the new server's hash
-- ARGV[1] player id     ARGV[2] expected player epoch (0 = never attached)     ARGV[3] area id
-- ARGV[4] server id     ARGV[5] current server id ('' if none)     ARGV[6] last applied input seq
-- ARGV[7] authority channel     ARGV[8] update id ('' = nobody waits)     ARGV[9] calling node
-- ARGV[10] the player's state as JSON ('' = keep the saved one)     ARGV[11] reason (join|handoff)
-- ARGV[12] '1' when the new owner is owed a resync (the player was recovered and had no input since)
-- Returns {1, epoch} when applied; {0, epoch} when the expected epoch or server is stale; {-1, epoch}
-- when the server does not own the area; {-2, epoch} while the area is being moved (retry shortly).
-- A move reads the area's players, then flips them with the area; the marker keeps anyone from
-- joining the area in between and being left behind on the old owner.
-- Invariant: a player is attached to the owner of its area, under a player epoch that grows with
-- every change (next_epoch), and sits in exactly one server's player set. The announcement carries
-- what the new owner's link needs to attach it (seq and state), so links follow the map.
-- Last key and last argument: the world marker and the incarnation this node serves (world_guard).
--- @include "world_guard"
--- @include "announce_player"
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
if epoch ~= tonumber(ARGV[2]) then return {0, epoch} end
if (redis.call('HGET', KEYS[1], 'server') or '') ~= ARGV[5] then return {0, epoch} end
if redis.call('EXISTS', KEYS[5]) == 1 then return {-2, epoch} end
local a = redis.call('HGET', KEYS[2], ARGV[3])
if not a or cjson.decode(a).server ~= ARGV[4] then return {-1, epoch} end
epoch = next_epoch(epoch)
if ARGV[5] ~= '' then redis.call('SREM', KEYS[3], ARGV[1]) end
redis.call('SADD', KEYS[4], ARGV[1])
-- Players a server got since its last load report: placement counts them (reports lag).
if ARGV[4] ~= ARGV[5] then redis.call('HINCRBY', KEYS[6], 'pending', 1) end
redis.call('HSET', KEYS[1], 'server', ARGV[4], 'area', ARGV[3], 'epoch', epoch, 'seq', ARGV[6])
if ARGV[10] ~= '' then redis.call('HSET', KEYS[1], 'snapshot', ARGV[10], 'snapSeq', ARGV[6]) end
-- The saved state goes to a server that does not simulate the player yet; a move within one
-- server (a new area, same owner) carries none: that server's own state is newer than any save.
announce_player(ARGV[7], KEYS[1], {
  player = ARGV[1], server = ARGV[4], area = ARGV[3], epoch = epoch, seq = tonumber(ARGV[6]),
  with_snapshot = ARGV[4] ~= ARGV[5], reason = ARGV[11], id = ARGV[8], from = ARGV[9],
  resync = ARGV[12] == '1',
})
return {1, epoch}
