/**
 * The names of the files mc-dropout keeps beside an output: the one place they are spelled. A rows
 * output `out.csv` has `out.csv.partial` (rows until the run completes), `out.csv.partial.json`
 * (the settings a resume must match), `out.csv.meta.json` (the finished run's metadata) and
 * `out.csv.lock` (the run writing it); a passes file `p.npy` has `p.npy.partial`,
 * `p.npy.paths.json` (the image of each row) and `p.npy.run.json` (what made the passes).
 */

/** The files beside a rows output `file`. */
export function outputSidecars(file: string): { partial: string; partialSettings: string; meta: string; lock: string } {
  return { partial: `${file}.partial`, partialSettings: `${file}.partial.json`, meta: metadataOf(file), lock: `${file}.lock` };
}

/** The metadata sidecar of an output file (predict's rows, a shard, a merge): `<file>.meta.json`. */
export function metadataOf(file: string): string {
  return `${file}.meta.json`;
}

/** The files beside a passes file `npy`. */
export function passesSidecars(npy: string): { partial: string; paths: string; run: string } {
  return { partial: `${npy}.partial`, paths: `${npy}.paths.json`, run: `${npy}.run.json` };
}
