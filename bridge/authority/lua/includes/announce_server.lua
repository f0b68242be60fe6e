-- announce_server(channel, key, id, epoch): publishes a server's record as it now stands in its
-- hash (node, power, load, status), so every cache sees the same fields whichever script changed it.
local function announce_server(channel, key, id, epoch)
  local s = redis.call('HMGET', key, 'node', 'power', 'load', 'status')
  redis.call('SPUBLISH', channel, cjson.encode({
    t = 'server', id = id, node = s[1], power = tonumber(s[2]), load = tonumber(s[3]), status = s[4], epoch = tonumber(epoch),
  }))
end
