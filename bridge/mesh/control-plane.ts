// Durable control-plane work on BullMQ: schedules (rebalance, lease check) and one-off jobs
// (crash recovery, drain, snapshot persistence). Every node runs a worker, so any node can do
// any job; a job whose node dies mid-way is picked up again by another (BullMQ's stalled-job
// check), and a job id per (server, epoch) makes each recovery or drain happen once.
import { Queue, Worker, type Job } from 'bullmq';
import type { RedisClient, RedisDeployment } from '../authority/redis-connection.js';
import type { Logger } from 'winston';
import type { BridgeConfig } from '../../shared/config.js';
import type { Keys } from '../../shared/keys.js';
import type { Snapshot } from '../../shared/protocol.js';

export interface ControlJobs {
  rebalance: Record<string, never>;
  'lease-check': Record<string, never>;
  /** `areas`: the dead session's areas with their epochs then (an area that changed since is not touched). */
  recover: { server: string; epoch: number; areas: Record<string, number> };
  drain: { server: string; epoch: number };
  persist: { server: string } & Snapshot;
}
export type ControlJobName = keyof ControlJobs;
export type ControlHandlers = { [K in ControlJobName]: (data: ControlJobs[K]) => Promise<void> };

export class ControlPlane {
  private readonly queue: Queue;
  private worker: Worker | undefined;
  private readonly connections: RedisClient[] = [];
  private readonly handlers: Partial<ControlHandlers> = {};

  constructor(
    private readonly config: BridgeConfig,
    private readonly keys: Keys,
    private readonly logger: Logger,
    private readonly redis: RedisDeployment,
  ) {
    this.queue = new Queue('control', { connection: this.connection(), prefix: keys.queuePrefix });
    this.queue.on('error', (err) => logger.warn('control queue error', { err: err.message }));
  }

  /** Registers the part that runs one kind of job (each part registers its own, before start). */
  handle<K extends ControlJobName>(name: K, handler: ControlHandlers[K]): void {
    if (this.handlers[name]) throw new Error(`control plane: '${name}' already has a handler`);
    this.handlers[name] = handler as ControlHandlers[ControlJobName] as never;
  }

  /** Starts this node's worker and (idempotently) the mesh-wide schedules. */
  async start(): Promise<void> {
    this.worker = new Worker(
      'control',
      async (job: Job) => {
        const handler = this.handlers[job.name as ControlJobName] as ((data: unknown) => Promise<void>) | undefined;
        if (!handler) throw new Error(`no handler for control job ${job.name}`);
        await handler(job.data);
      },
      { connection: this.connection(), prefix: this.keys.queuePrefix, concurrency: 8, lockDuration: 10_000, stalledInterval: 5_000 },
    );
    this.worker.on('failed', (job, err) => this.logger.warn('control job failed', { job: job?.name, id: job?.id, err: err.message }));
    this.worker.on('error', (err) => this.logger.warn('control worker error', { err: err.message }));
    await this.schedule();
  }

  /** The mesh-wide schedules (idempotent): at start, and again after the map lost its data (they lived in it). */
  async schedule(): Promise<void> {
    const template = { opts: { removeOnComplete: true, removeOnFail: 100 } };
    await this.queue.upsertJobScheduler(
      'rebalance',
      { every: this.config.rebalanceIntervalMs },
      { name: 'rebalance', data: {}, ...template },
    );
    await this.queue.upsertJobScheduler('lease-check', { every: this.config.leaseCheckMs }, { name: 'lease-check', data: {}, ...template });
  }

  /** Queues the recovery of a server session's areas (once per session: the job id is per server and epoch). */
  recoverLater(server: string, epoch: number, areas: Record<string, number>): Promise<void> {
    return this.add('recover', { server, epoch, areas }, `recover:${server}:${epoch}`);
  }

  /**
   * A lease check `delayMs` from now, beside the schedule: a server whose connection dropped is
   * recovered as soon as its reconnect grace has passed, not at the next scheduled check. `key`
   * makes it once per dropped session.
   */
  checkLeasesIn(delayMs: number, key: string): Promise<void> {
    return this.add('lease-check', {}, `lease-check:${key}`, delayMs);
  }

  /** Adds a job; with an id, adding the same id again while it exists does nothing. */
  async add<K extends ControlJobName>(name: K, data: ControlJobs[K], jobId?: string, delayMs?: number): Promise<void> {
    // A failed recovery is forgotten, so the next lease check can add it again (it retries until a server can take the areas).
    const recover = name === 'recover';
    await this.queue.add(name, data, {
      jobId, removeOnComplete: true, removeOnFail: recover ? true : 100, ...(delayMs ? { delay: delayMs } : {}),
      attempts: recover ? 5 : 3, backoff: recover ? { type: 'exponential', delay: 250 } : { type: 'fixed', delay: 500 },
    });
  }

  /**
   * Stops this node's worker without waiting for jobs in flight (BullMQ's stalled-job check gives
   * them to another node) and never for long: after a Redis restart BullMQ's close can wait
   * forever, and a node's shutdown must not. Our own connections are closed whatever happens.
   */
  async close(): Promise<void> {
    const closing = Promise.all([this.worker?.close(true), this.queue.close()]).catch(() => {});
    await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    for (const c of this.connections) c.disconnect();
  }

  private connection(): RedisClient {
    const c = this.redis.connect('control', undefined, { maxRetriesPerRequest: null });
    this.connections.push(c);
    return c;
  }
}
