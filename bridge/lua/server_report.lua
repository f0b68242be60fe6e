-- server_report: a load report from a server; refreshes its lease.
-- KEYS[1] server hash     KEYS[2] leases zset
-- ARGV[1] server id     ARGV[2] session epoch     ARGV[3] load     ARGV[4] power ('' = unchanged)
-- ARGV[5] lease ms     ARGV[6] authority channel
-- Returns 1 when applied; 0 when the epoch is not the current session's (fenced).
-- Invariant: only the current session of a server can extend its lease.
if tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0') ~= tonumber(ARGV[2]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'load', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'power', ARGV[4]) end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[1])
local s = redis.call('HMGET', KEYS[1], 'node', 'power', 'status')
redis.call('PUBLISH', ARGV[6], cjson.encode({
  t = 'server', id = ARGV[1], node = s[1], power = tonumber(s[2]), load = tonumber(ARGV[3]),
  status = s[3], epoch = tonumber(ARGV[2]),
}))
return 1
