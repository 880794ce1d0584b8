/** How prediction sets did on labeled images (pure): coverage overall, by set size and by class, and set sizes. */
import { invalidParameter } from '../errors.js';

/** What sets did on labeled images: the fraction holding the true class, their sizes, and both by set size and by class. */
export interface SetCoverage {
  images: number;
  /** Fraction of images whose set holds the true class. */
  coverage: number;
  meanSize: number;
  medianSize: number;
  /** Images with an empty set (randomized APS/RAPS allow them). */
  empty: number;
  /** By set size, smallest first: images, and the fraction covered. */
  bySize: { size: number; images: number; coverage: number }[];
  /** By true class: images, the fraction covered (null for a class with no image) and the mean set size. */
  byClass: { classIndex: number; images: number; coverage: number | null; meanSize: number | null }[];
}

/** Coverage of sets (class indices) against true classes in [0, classes). */
export function setCoverage(images: readonly { label: number; set: readonly number[] }[], classes: number): SetCoverage {
  if (images.length === 0) throw invalidParameter('images', 'at least one labeled image', 0, 'images');
  const covered = images.map((i) => i.set.includes(i.label));
  const sizes = images.map((i) => i.set.length).sort((a, b) => a - b);
  const n = images.length;
  const median = n % 2 === 1 ? sizes[(n - 1) / 2]! : (sizes[n / 2 - 1]! + sizes[n / 2]!) / 2;
  const bySize = new Map<number, { images: number; covered: number }>();
  const byClass = Array.from({ length: classes }, () => ({ images: 0, covered: 0, size: 0 }));
  images.forEach((image, i) => {
    const size = bySize.get(image.set.length) ?? { images: 0, covered: 0 };
    size.images++;
    size.covered += covered[i] ? 1 : 0;
    bySize.set(image.set.length, size);
    const c = byClass[image.label]!;
    c.images++;
    c.covered += covered[i] ? 1 : 0;
    c.size += image.set.length;
  });
  return {
    images: n,
    coverage: covered.filter(Boolean).length / n,
    meanSize: sizes.reduce((a, b) => a + b, 0) / n,
    medianSize: median,
    empty: sizes.filter((s) => s === 0).length,
    bySize: [...bySize.entries()].sort((a, b) => a[0] - b[0]).map(([size, s]) => ({ size, images: s.images, coverage: s.covered / s.images })),
    byClass: byClass.map((c, classIndex) => ({
      classIndex,
      images: c.images,
      coverage: c.images > 0 ? c.covered / c.images : null,
      meanSize: c.images > 0 ? c.size / c.images : null,
    })),
  };
}
