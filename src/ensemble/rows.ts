/** The layout of an ensemble's passes as rows: pure, no import. */

/**
 * probs[m][v] (member m's passes on view v, [T_mv, C] with T_mv = T or 1) as rows [T x M x V, C],
 * pass-major: row (t, m, v) is pass t of member m on view v, and a member with one pass gives it for
 * every t, so every member and view weighs the same and the first t x M x V rows are the first t
 * passes of each.
 */
export function passMajorRows(probs: readonly (readonly Float64Array[])[], T: number, classes: number): Float64Array {
  const M = probs.length;
  const V = probs[0]!.length;
  const rows = new Float64Array(T * M * V * classes);
  for (let t = 0; t < T; t++)
    for (let m = 0; m < M; m++)
      for (let v = 0; v < V; v++) {
        const p = probs[m]![v]!;
        const own = p.length === classes ? 0 : t;
        rows.set(p.subarray(own * classes, (own + 1) * classes), ((t * M + m) * V + v) * classes);
      }
  return rows;
}

/** passMajorRows undone: rows [T x M x V, C] pass-major as probs[m][v] ([T, C] each). */
export function splitPassMajorRows(rows: ArrayLike<number>, T: number, M: number, V: number, classes: number): Float64Array[][] {
  const probs = Array.from({ length: M }, () => Array.from({ length: V }, () => new Float64Array(T * classes)));
  for (let t = 0; t < T; t++)
    for (let m = 0; m < M; m++)
      for (let v = 0; v < V; v++) {
        const from = ((t * M + m) * V + v) * classes;
        for (let c = 0; c < classes; c++) probs[m]![v]![t * classes + c] = rows[from + c]!;
      }
  return probs;
}
