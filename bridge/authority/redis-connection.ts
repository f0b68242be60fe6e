// How every connection of a node to Redis is made: not lazy (ioredis connects and retries on its
// own), reconnect attempts at most 250 ms apart, and while a restarted Redis loads its data a
// ready check every 100 ms (ioredis waits up to 1 s by default): the mesh is back soon after Redis.
import { Redis } from 'ioredis';
import type { Logger } from 'winston';

/**
 * `maxRetriesPerRequest`: 2 for the node's own commands (fail fast, the caller decides), null for
 * BullMQ's (it requires it). Errors are logged under `name`, or ignored when no logger is given
 * (the node's own connections report Redis trouble).
 */
export function redisConnection(url: string, name: string, logger: Logger | undefined, maxRetriesPerRequest: number | null = 2): Redis {
  const conn = new Redis(url, {
    maxRetriesPerRequest,
    maxLoadingRetryTime: 100,
    retryStrategy: (times: number) => Math.min(times * 50, 250),
  });
  conn.on('error', (err: Error) => logger?.warn(`${name} error`, { err: err.message }));
  return conn;
}
