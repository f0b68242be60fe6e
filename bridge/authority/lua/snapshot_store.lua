-- snapshot_store: keep a server's "autosave" of the areas and players it still owns.
-- KEYS[1] areas hash     KEYS[2] area-state hash     KEYS[3..] the players' hashes (ARGV order)
-- ARGV[1] server id     ARGV[2] number of areas n
-- ARGV[3 .. 2+2n] area id, state JSON pairs     then per player: state JSON, last applied seq
-- Returns the number of entries stored.
-- Invariant: a snapshot never overwrites the state of an area or player the server no longer owns
-- (a late autosave from a server that lost them is ignored).
local stored, n = 0, tonumber(ARGV[2])
for i = 0, n - 1 do
  local area, state = ARGV[3 + 2 * i], ARGV[4 + 2 * i]
  local cur = redis.call('HGET', KEYS[1], area)
  if cur and cjson.decode(cur).server == ARGV[1] then
    redis.call('HSET', KEYS[2], area, state)
    stored = stored + 1
  end
end
local base = 3 + 2 * n
for i = 3, #KEYS do
  local j = base + (i - 3) * 2
  if redis.call('HGET', KEYS[i], 'server') == ARGV[1] then
    redis.call('HSET', KEYS[i], 'snapshot', ARGV[j], 'snapSeq', ARGV[j + 1])
    stored = stored + 1
  end
end
return stored
