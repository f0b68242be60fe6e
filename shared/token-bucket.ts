// A token bucket: `perSecond` tokens a second, at most `burst` saved up. Pure (the clock is a
// parameter), so the SDKs, the bridge's rate limits and the unit tests share one rule.
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    now: number = Date.now(),
  ) {
    this.tokens = burst;
    this.refilledAt = now;
  }

  /** True if `cost` tokens were available at `now` (and takes them). */
  take(now: number = Date.now(), cost = 1): boolean {
    this.refill(now);
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /**
   * For costs that may exceed the burst (bytes): admits when the bucket is not in debt, and takes
   * the whole cost, possibly into debt, which later requests wait out. The long-run rate holds.
   */
  spend(now: number, cost: number): boolean {
    this.refill(now);
    if (this.tokens < 0) return false;
    this.tokens -= cost;
    return true;
  }

  /** Milliseconds from `now` until `cost` tokens are available (0: now). */
  waitMs(now: number, cost = 1): number {
    this.refill(now);
    return this.tokens >= cost ? 0 : Math.ceil(((cost - this.tokens) * 1000) / this.perSecond);
  }

  private refill(now: number): void {
    if (now > this.refilledAt) this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.perSecond) / 1000);
    this.refilledAt = Math.max(this.refilledAt, now);
  }
}
