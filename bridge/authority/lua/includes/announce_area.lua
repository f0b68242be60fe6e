-- announce_area(channel, area, server, epoch, prev, id, from): publishes an area's new owner
-- ('' = released), the owner before, the update id to acknowledge ('' = none) and the calling node.
local function announce_area(channel, area, server, epoch, prev, id, from)
  redis.call('SPUBLISH', channel, cjson.encode({ t = 'area', area = area, server = server, epoch = epoch, prev = prev, id = id, from = from }))
end
