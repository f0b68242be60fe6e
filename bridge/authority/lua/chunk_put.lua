-- chunk_put: store a new version of a world chunk; its bytes are content-addressed and kept once.
-- KEYS[1] chunk index hash     KEYS[2] chunk refs hash     KEYS[3] bytes key of the new hash
-- KEYS[4] bytes key of the hash the caller read as current (any key of the world when there was none)
-- ARGV[1] chunk id     ARGV[2] version     ARGV[3] hash (SHA-256 hex of the bytes)     ARGV[4] size
-- ARGV[5] owner (uploading server)     ARGV[6] bytes     ARGV[7] hash the caller read as current ('' if none)
-- Returns {1, 1|0 (the bytes were new | already stored), at ms}; {0, current version} when the store
-- holds this version or a newer one; {-1} when the entry changed since the caller read it (read again).
-- Invariant: a chunk's version only moves forward; each stored byte string is referenced by at least
-- one index entry (refs count them) and is deleted with the last entry that referred to it.
--- @include "now_ms"
local current = redis.call('HGET', KEYS[1], ARGV[1])
local currentHash = ''
if current then
  local version, hash = string.match(current, '^(%d+) (%x+) ')
  if tonumber(version) >= tonumber(ARGV[2]) then return {0, version} end
  currentHash = hash
end
if currentHash ~= ARGV[7] then return {-1} end
local fresh = redis.call('SET', KEYS[3], ARGV[6], 'NX') and 1 or 0
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
if currentHash ~= '' and redis.call('HINCRBY', KEYS[2], currentHash, -1) <= 0 then
  redis.call('HDEL', KEYS[2], currentHash)
  redis.call('DEL', KEYS[4])
end
local at = string.format('%.0f', now_ms())
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. ARGV[5] .. ' ' .. at)
return {1, fresh, at}
