// Log-scale buckets 1% wide: enough precision for p50/p99 of latencies from
// 1 µs to 100 s, in a fixed ~1,900 slots whatever the number of deliveries
// (10,000 clients x thousands of events would not fit in an array of samples).
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(1e8) / LOG_GROWTH) + 2;

export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  total = 0;
  max = 0;

  record(us: number): void {
    if (Number.isNaN(us)) return;
    // A value under 1 µs (even negative) can only be rounding of a sub-µs latency.
    const v = Math.max(us, 1);
    let i = Math.floor(Math.log(v) / LOG_GROWTH);
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.counts[i]! += 1;
    this.total++;
    if (v > this.max) this.max = v;
  }

  /** Upper edge of the bucket holding quantile `q` (0..1), in µs; 0 when empty. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.ceil(q * this.total);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(GROWTH ** (i + 1), this.max);
    }
    return this.max;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.max = 0;
  }
}
