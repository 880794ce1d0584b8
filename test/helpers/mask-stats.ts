/** Statistics of binary mask sequences: masks[pass][unit] in {0, 1} (1 = kept). */

export interface MaskReport {
  passes: number;
  /** Largest |keep rate - expected| over units, in standard deviations of a binomial rate. */
  worstRateSigma: number;
  /** Largest |lag-1 autocorrelation| over units. */
  worstAutocorrelation: number;
  /** Largest |correlation| between two different units (or the same unit of two sites). */
  worstCrossCorrelation: number;
  /** 4/sqrt(N): bound for the one-per-unit autocorrelations. */
  correlationBound: number;
  /**
   * Bound for the pairwise correlations. Independent sequences give r ~ N(0, 1/N); with hundreds
   * of pairs, a 4-sigma bound would fail a sound generator for about 7% of seeds (1,128 pairs x
   * 6.3e-5), so pairs get 5/sqrt(N) when there are more than 100 (family-wise false alarm ~0.1%).
   */
  crossCorrelationBound: number;
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    cov += (a[i]! - ma) * (b[i]! - mb);
    va += (a[i]! - ma) ** 2;
    vb += (b[i]! - mb) ** 2;
  }
  // a constant sequence (always kept or always dropped) is maximally suspicious
  if (va === 0 || vb === 0) return 1;
  return cov / Math.sqrt(va * vb);
}

/** Columns of masks[pass][unit] as per-unit sequences. */
function sequences(masks: number[][]): Float64Array[] {
  const units = masks[0]!.length;
  return Array.from({ length: units }, (_, u) => Float64Array.from(masks, (row) => row[u]!));
}

/** Keep rates, lag-1 autocorrelation and pairwise correlations of the units' mask sequences. */
export function maskReport(masks: number[][], keepProbability: number, pairs?: [number, number][]): MaskReport {
  const passes = masks.length;
  const columns = sequences(masks);
  const sigma = Math.sqrt(keepProbability * (1 - keepProbability) / passes);
  let worstRateSigma = 0;
  let worstAutocorrelation = 0;
  for (const column of columns) {
    const rate = column.reduce((a, b) => a + b, 0) / passes;
    worstRateSigma = Math.max(worstRateSigma, Math.abs(rate - keepProbability) / sigma);
    worstAutocorrelation = Math.max(worstAutocorrelation, Math.abs(correlation(column.subarray(0, -1), column.subarray(1))));
  }
  let worstCrossCorrelation = 0;
  const allPairs = pairs ?? columns.flatMap((_, i) => columns.map((__, j) => [i, j] as [number, number]).filter(([a, b]) => a < b));
  for (const [i, j] of allPairs) worstCrossCorrelation = Math.max(worstCrossCorrelation, Math.abs(correlation(columns[i]!, columns[j]!)));
  return {
    passes, worstRateSigma, worstAutocorrelation, worstCrossCorrelation,
    correlationBound: 4 / Math.sqrt(passes), crossCorrelationBound: (allPairs.length > 100 ? 5 : 4) / Math.sqrt(passes),
  };
}

/** True when every unit passes: rate within 4 sigma, correlations within their bounds. */
export function masksLookIndependent(report: MaskReport): boolean {
  return report.worstRateSigma <= 4
    && report.worstAutocorrelation <= report.correlationBound
    && report.worstCrossCorrelation <= report.crossCorrelationBound;
}
