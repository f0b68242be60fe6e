// The server SDK's guard against acting on stale orders (docs/protocol.md, "A frozen server"). A
// process frozen by a GC or VM pause, a debugger or CPU throttling wakes up with the bridge's
// messages still in its socket; meanwhile its areas may have been recovered onto another server.
// It must not apply them. The bridge tells it how long it may act on what it is sent, counted
// from the moment it sent its registration or a `lease` the bridge answered (no recovery can
// start sooner); past that, every event waits (in order) until a fresh `lease` answer, and is
// dropped with the connection if none comes. Time is this process's monotonic clock.

/** Asks the bridge `lease`; calls back with its `ms`, or with undefined when it did not answer. */
export type LeaseAsk = (answer: (ms: number | undefined) => void) => void;

export class LeaseGate {
  /** Events may run while performance.now() is below this. */
  private until = -Infinity;
  private readonly held: (() => void)[] = [];
  private asking = false;
  /** Bumped when the connection ends: answers to older asks are ignored. */
  private generation = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly ask: LeaseAsk) {}

  /** Runs `fn` now if the lease is confirmed, else after the next confirmation (in arrival order). */
  run(fn: () => void): void {
    if (this.held.length === 0 && performance.now() < this.until) return fn();
    this.held.push(fn);
    this.confirm();
  }

  /** A confirmation for `ms` from `sentAt` (performance.now() when the registration or `lease` was sent). */
  confirmed(sentAt: number, ms: number): void {
    this.until = Math.max(this.until, sentAt + ms);
    while (this.held.length > 0 && performance.now() < this.until) this.held.shift()!();
    clearTimeout(this.timer);
    // Still holding: the answer came too late (ask again now) or the bridge grants nothing yet (its lease is
    // lapsing: ask again shortly). Else ask again halfway through, so a live server's events never wait.
    const again = this.held.length > 0 ? (ms > 0 ? 0 : 100) : Math.min(1000, Math.max(50, ms / 2));
    this.timer = setTimeout(() => this.confirm(), again);
    this.timer.unref?.();
  }

  /** The connection ended: what is held was sent to a session that may be over; it is dropped, never applied. */
  reset(): number {
    const dropped = this.held.length;
    this.held.length = 0;
    this.until = -Infinity;
    this.asking = false;
    this.generation++;
    clearTimeout(this.timer);
    return dropped;
  }

  get holding(): number {
    return this.held.length;
  }

  private confirm(): void {
    if (this.asking) return;
    this.asking = true;
    const generation = this.generation;
    const sentAt = performance.now();
    this.ask((ms) => {
      if (generation !== this.generation) return;
      this.asking = false;
      if (ms === undefined) {
        if (this.held.length > 0) this.confirm();
        return;
      }
      this.confirmed(sentAt, ms);
    });
  }
}
