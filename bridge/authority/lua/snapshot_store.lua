-- snapshot_store: keep a server's "autosave" of the areas and players it still owns.
-- KEYS[1] areas hash     KEYS[2] area-state hash     KEYS[3] the server's hash     KEYS[4..] the players' hashes (ARGV order)
-- ARGV[1] server id     ARGV[2] number of areas n
-- ARGV[3 .. 2+2n] area id, state JSON pairs     then per player: state JSON, last applied seq
-- Returns {entries stored, then per player 1 if its autosave was stored, else 0}.
-- Invariant: a snapshot never overwrites the state of an area or player the server no longer owns
-- (a late autosave from a server that lost them is ignored), nor anything once the server is declared
-- dead or gone: recovery reads the autosaves after that, so no autosave newer than the one it restores
-- can be stored, and none can be told to a client as covering inputs (zero-loss rule, docs/mesh.md).
-- Last key and last argument: the world marker and the incarnation this node serves (world_guard).
--- @include "world_guard"
local status = redis.call('HGET', KEYS[3], 'status')
local out = {0}
local refused = status == 'dead' or status == 'gone'
local n = tonumber(ARGV[2])
if not refused then
  for i = 0, n - 1 do
    local area, state = ARGV[3 + 2 * i], ARGV[4 + 2 * i]
    local cur = redis.call('HGET', KEYS[1], area)
    if cur and cjson.decode(cur).server == ARGV[1] then
      redis.call('HSET', KEYS[2], area, state)
      out[1] = out[1] + 1
    end
  end
end
local base = 3 + 2 * n
for i = 4, #KEYS - 1 do -- the last key is the world marker
  local j = base + (i - 4) * 2
  if not refused and redis.call('HGET', KEYS[i], 'server') == ARGV[1] then
    redis.call('HSET', KEYS[i], 'snapshot', ARGV[j], 'snapSeq', ARGV[j + 1])
    out[1] = out[1] + 1
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
