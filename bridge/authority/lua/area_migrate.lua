-- area_migrate: move an area and every player in it to another server, in one step.
-- KEYS[1] areas hash     KEYS[2] source's player set     KEYS[3] target's player set
-- KEYS[4] target server hash (must be 'ready' or 'draining'... only 'ready' may take work)
-- KEYS[5] area-state hash     KEYS[6..] the players' hashes, in the order of the player ARGVs
-- ARGV[1] area id     ARGV[2] expected area epoch     ARGV[3] source server     ARGV[4] target server
-- ARGV[5] authority channel     ARGV[6] update id     ARGV[7] calling node
-- ARGV[8] reason (rebalance|drain|recover|admin)     ARGV[9] area state as JSON ('' = keep)
-- ARGV[10..] per player, in KEYS order: id, expected player epoch, last applied seq, state JSON ('' = keep),
--   '1' when its new owner is owed a resync (recovered from an autosave, or recovered and given no input since)
-- Returns {1, area epoch} when applied; {0, area epoch} when the area changed meanwhile; {-1, i}
-- when player i (1-based) changed meanwhile; {-2, 0} when the target is not ready.
-- Invariant: after it, the area and all the listed players belong to the target, each epoch
-- higher (next_epoch), and the invariant "a player belongs to its area's owner" holds throughout.
-- Last key and last argument: the world marker and the incarnation this node serves (world_guard).
--- @include "world_guard"
--- @include "announce_area"
--- @include "announce_player"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return {0, 0} end
local o = cjson.decode(cur)
if o.epoch ~= tonumber(ARGV[2]) or o.server ~= ARGV[3] then return {0, o.epoch} end
if redis.call('HGET', KEYS[4], 'status') ~= 'ready' then return {-2, 0} end
local n = #KEYS - 6 -- the last key is the world marker
for i = 1, n do
  local base = 10 + (i - 1) * 5
  local r = redis.call('HMGET', KEYS[5 + i], 'epoch', 'server', 'area')
  if tonumber(r[1] or '0') ~= tonumber(ARGV[base + 1]) or r[2] ~= ARGV[3] or r[3] ~= ARGV[1] then return {-1, i} end
end
local epoch = next_epoch(o.epoch)
if ARGV[3] ~= ARGV[4] then redis.call('HINCRBY', KEYS[4], 'pending', n) end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({server = ARGV[4], epoch = epoch}))
if ARGV[9] ~= '' then redis.call('HSET', KEYS[5], ARGV[1], ARGV[9]) end
announce_area(ARGV[5], ARGV[1], ARGV[4], epoch, ARGV[3], '', ARGV[7])
for i = 1, n do
  local base = 10 + (i - 1) * 5
  local key, player = KEYS[5 + i], ARGV[base]
  local pe = next_epoch(tonumber(ARGV[base + 1]))
  redis.call('SREM', KEYS[2], player)
  redis.call('SADD', KEYS[3], player)
  redis.call('HSET', key, 'server', ARGV[4], 'epoch', pe, 'seq', ARGV[base + 2])
  if ARGV[base + 3] ~= '' then redis.call('HSET', key, 'snapshot', ARGV[base + 3], 'snapSeq', ARGV[base + 2]) end
  announce_player(ARGV[5], key, {
    player = player, server = ARGV[4], area = ARGV[1], epoch = pe, seq = tonumber(ARGV[base + 2]),
    with_snapshot = true, reason = ARGV[8], from = ARGV[7], resync = ARGV[base + 4] == '1',
  })
end
-- One acknowledged marker after every change, so one barrier covers them all.
redis.call('SPUBLISH', ARGV[5], cjson.encode({ t = 'mark', id = ARGV[6], from = ARGV[7] }))
return {1, epoch}
