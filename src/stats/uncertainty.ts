/**
 * The one table of uncertainty scores: their names (the same in predict's columns, evaluate's
 * AUROCs, the OOD table and select --by), the summary number each reads, and which way of it is
 * more uncertain. Every score is read so that higher = less sure. Pure: imports nothing.
 */

/** What the scores read of an image's T passes (an McSummary, an evaluate Outcome or a predict row). */
export interface UncertaintyInputs {
  /** Largest mean probability. */
  confidence: number;
  /** Predictive entropy, nats. */
  entropy: number;
  /** Mutual information between prediction and masks, nats (0 for one pass). */
  mutualInformation: number;
  /** 1 - passes voting for the modal class / T (0 for one pass). */
  variationRatio: number;
  /** Top-1 minus top-2 mean probability. */
  margin: number;
}

/** One score: the number it reads, which way of it is more uncertain, and how tables title it. */
export interface UncertaintyDefinition {
  reads: keyof UncertaintyInputs;
  /** 'higher': the score is the number itself; 'lower': it is 1 - the number (confidence and margin are in [0, 1]). */
  moreUncertain: 'higher' | 'lower';
  /** 0 for one pass (a deterministic run has none of it). */
  mcOnly: boolean;
  /** As evaluate's metric rows name it. */
  name: string;
  /** As the OOD table titles it. */
  title: string;
}

/** The uncertainty scores, by name: what each reads of a summary and which way is more uncertain. */
export const UNCERTAINTY = {
  one_minus_confidence: { reads: 'confidence', moreUncertain: 'lower', mcOnly: false, name: '1 - confidence', title: '1 - max probability' },
  entropy: { reads: 'entropy', moreUncertain: 'higher', mcOnly: false, name: 'entropy', title: 'entropy' },
  mutual_information: { reads: 'mutualInformation', moreUncertain: 'higher', mcOnly: true, name: 'mutual information', title: 'mutual information' },
  variation_ratio: { reads: 'variationRatio', moreUncertain: 'higher', mcOnly: true, name: 'variation ratio', title: 'variation ratio' },
  margin: { reads: 'margin', moreUncertain: 'lower', mcOnly: false, name: '1 - margin', title: '1 - margin' },
} as const satisfies Record<string, UncertaintyDefinition>;

/** An uncertainty score's name. */
export type UncertaintyScore = keyof typeof UNCERTAINTY;

/** Every uncertainty score, in the order tables list them. */
export const UNCERTAINTY_SCORES = Object.keys(UNCERTAINTY) as UncertaintyScore[];

/** Earlier names of the scores (select --by before 0.x), still accepted where a score is named. */
export const UNCERTAINTY_ALIASES = {
  bald: 'mutual_information',
  'least-confidence': 'one_minus_confidence',
  'variation-ratio': 'variation_ratio',
} as const satisfies Record<string, UncertaintyScore>;

/** An earlier name of a score. */
export type UncertaintyAlias = keyof typeof UNCERTAINTY_ALIASES;

/** The score a name or an alias means, or undefined for neither. */
export function uncertaintyScoreNamed(name: string): UncertaintyScore | undefined {
  if (Object.hasOwn(UNCERTAINTY, name)) return name as UncertaintyScore;
  if (Object.hasOwn(UNCERTAINTY_ALIASES, name)) return UNCERTAINTY_ALIASES[name as UncertaintyAlias];
  return undefined;
}

/** An image's score, higher = less sure: the number it reads, or 1 minus it when lower is less sure. */
export function uncertaintyOf(s: UncertaintyInputs, score: UncertaintyScore): number {
  const definition: UncertaintyDefinition = UNCERTAINTY[score];
  const value = s[definition.reads];
  return definition.moreUncertain === 'higher' ? value : 1 - value;
}
