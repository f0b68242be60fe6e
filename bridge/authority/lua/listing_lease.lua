-- listing_lease: hold or take the lease of the node that posts the network's public listing.
-- KEYS[1] listing leader string (with TTL)     KEYS[2] nodes zset (heartbeat deadlines)
-- KEYS[3] nodes-by-age zset (first start times)
-- ARGV[1] node id     ARGV[2] lease ms
-- Returns 1 when this node holds the lease now (renewed or taken), 0 otherwise.
-- Invariant: at most one holder at a time; when the lease is free, only the oldest live node (the
-- front of the list, seed 004) takes it, so the listing moves to the next oldest when a leader dies.
--- @include "now_ms"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
local now = now_ms()
for _, node in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  if tonumber(redis.call('ZSCORE', KEYS[2], node) or '0') > now then
    if node ~= ARGV[1] then return 0 end
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
  end
end
return 0
