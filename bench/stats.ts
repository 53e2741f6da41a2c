/** Summary statistics shared by the benchmarks. */

/** The p-th percentile (0 < p ≤ 100) of an ascending array, nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
