/**
 * The seed of each member's and each view's masks. Masks are keyed by (seed, image, pass, site);
 * an ensemble keys them by the member too, through a seed derived from the run's seed and the
 * member's SHA-256 (not its place on the command line: the output does not depend on the order of
 * the members), and a view other than the identity by its name. One member on the identity view
 * keeps the run's seed, so a plain run is what it always was.
 */
import { createHash } from 'node:crypto';

/** The seed of member `sha256`'s masks on view `view` in a run of `seed`; `alone`: the run has one member. */
export function memberSeed(seed: number, sha256: string, view: string, alone: boolean): number {
  const memberKeyed = alone ? seed : derive(`member:${seed}:${sha256}`);
  return view === 'identity' ? memberKeyed : derive(`view:${memberKeyed}:${view}`);
}

/** A seed in [0, 2^53) from the SHA-256 of `text`. */
function derive(text: string): number {
  const digest = createHash('sha256').update(text).digest();
  return (digest.readUInt32BE(0) & 0x1fffff) * 0x100000000 + digest.readUInt32BE(4);
}
