/** Statistics of binary mask sequences: masks[pass][unit] in {0, 1} (1 = kept). */

export interface MaskReport {
  passes: number;
  /** Largest |keep rate - expected| over units, in standard deviations of a binomial rate. */
  worstRateSigma: number;
  /** Bound for worstRateSigma: the family-wise z for one check per unit. */
  rateBound: number;
  /** Largest |lag-1 autocorrelation| over units. */
  worstAutocorrelation: number;
  /** Largest |correlation| between two different units (or the same unit of two sites). */
  worstCrossCorrelation: number;
  /** Bound for the one-per-unit autocorrelations: the family-wise z for the units, over sqrt(N). */
  correlationBound: number;
  /**
   * Bound for the pairwise correlations: the family-wise z for the pairs, over sqrt(N).
   * Independent sequences give r ~ N(0, 1/N). With many checks a fixed 4-sigma bound would fail a
   * sound generator for a fair share of seeds (96 units: 0.6%, 1,128 pairs: 7%), so every bound is
   * set for a family-wise false alarm of 0.1% (familyWiseZ), and the seeds stay fixed.
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
  const sigma = Math.sqrt((keepProbability * (1 - keepProbability)) / passes);
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
    passes,
    worstRateSigma,
    rateBound: familyWiseZ(columns.length),
    worstAutocorrelation,
    worstCrossCorrelation,
    correlationBound: familyWiseZ(columns.length) / Math.sqrt(passes),
    crossCorrelationBound: familyWiseZ(allPairs.length) / Math.sqrt(passes),
  };
}

/** True when every unit passes: rates and correlations within their bounds. */
export function masksLookIndependent(report: MaskReport): boolean {
  return (
    report.worstRateSigma <= report.rateBound &&
    report.worstAutocorrelation <= report.correlationBound &&
    report.worstCrossCorrelation <= report.crossCorrelationBound
  );
}

/** P(|Z| > z) for a standard normal Z: erfc(z / sqrt 2), Abramowitz & Stegun 7.1.26 (error < 1.5e-7). */
export function twoSidedTail(z: number): number {
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  return t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-x * x);
}

/** The z at which `checks` independent two-sided normal checks raise a false alarm with probability `falseAlarm`. */
export function familyWiseZ(checks: number, falseAlarm = 1e-3): number {
  let low = 0;
  let high = 12;
  for (let i = 0; i < 60; i++) {
    const mid = (low + high) / 2;
    if (checks * twoSidedTail(mid) > falseAlarm) low = mid;
    else high = mid;
  }
  return high;
}
