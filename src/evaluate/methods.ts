/**
 * An ensemble's evaluation by method: each member alone (dropout off, and MC where it has dropout),
 * the ensemble with dropout off (the members' eval-mode softmax averaged) and with MC dropout, and
 * with test-time augmentation the same two over every view. Each method's outcome on an image comes
 * from its own rows with equal weight, as the run's predictive does (ensemble/predict-files.ts).
 */
import { passMajorRows } from '../ensemble/rows.js';
import { outcomeOf, type MethodMetrics } from './evaluation.js';
import { metricsOf, type Outcome } from './metrics.js';

/** One member's outputs on an image: its passes per view [T, C] (one pass without dropout) and its dropout-off probabilities per view [C]. */
export interface MemberOutputs {
  passes: readonly Float64Array[];
  deterministic: readonly Float64Array[];
}

/** A member as the table names it, and whether it has dropout (else it has no MC row of its own). */
export interface MethodMember {
  name: string;
  stochastic: boolean;
}

interface Method {
  name: string;
  member: string | null;
  dropout: boolean;
  tta: boolean;
  rows: (outputs: readonly MemberOutputs[]) => Float64Array;
}

/** Gathers each method's outcome image by image; `finish` gives the table, members first (in the order given), then the ensemble. */
export class MethodsAccumulator {
  private readonly methods: Method[];
  private readonly outcomes: Outcome[][];
  private readonly samples: number[];

  /**
   * `members` in the order their outputs come to `add`; `display[i]`: the index into `members` of
   * the i-th member shown. `views`: views per member (more than one: the TTA rows). `passes`: T.
   */
  constructor(
    private readonly classes: number,
    members: readonly MethodMember[],
    display: readonly number[],
    views: number,
    passes: number,
  ) {
    const rows = (pick: (o: readonly MemberOutputs[]) => Float64Array[][], T: number) => (o: readonly MemberOutputs[]) => passMajorRows(pick(o), T, classes);
    const methods: Method[] = [];
    const whole = members.length > 1 ? 'ensemble' : members[0]!.name;
    for (const m of display) {
      const { name, stochastic } = members[m]!;
      if (members.length === 1) break;
      methods.push({ name: `${name}, dropout off`, member: name, dropout: false, tta: false, rows: rows((o) => [[o[m]!.deterministic[0]!]], 1) });
      if (stochastic) methods.push({ name: `${name}, MC dropout`, member: name, dropout: true, tta: false, rows: rows((o) => [[o[m]!.passes[0]!]], passes) });
    }
    methods.push(
      { name: `${whole}, dropout off`, member: null, dropout: false, tta: false, rows: rows((o) => o.map((x) => [x.deterministic[0]!]), 1) },
      { name: `${whole}, MC dropout`, member: null, dropout: true, tta: false, rows: rows((o) => o.map((x) => [x.passes[0]!]), passes) },
    );
    if (views > 1)
      methods.push(
        { name: `${whole}, dropout off + TTA`, member: null, dropout: false, tta: true, rows: rows((o) => o.map((x) => [...x.deterministic]), 1) },
        { name: `${whole}, MC dropout + TTA`, member: null, dropout: true, tta: true, rows: rows((o) => o.map((x) => [...x.passes]), passes) },
      );
    this.methods = methods;
    this.outcomes = methods.map(() => []);
    this.samples = methods.map(() => 0);
  }

  /** One labeled image: every member's outputs (in the constructor's order) and its true class. */
  add(outputs: readonly MemberOutputs[], label: number): void {
    this.methods.forEach((method, i) => {
      const rows = method.rows(outputs);
      this.samples[i] = rows.length / this.classes;
      this.outcomes[i]!.push(outcomeOf(rows, this.classes, label));
    });
  }

  finish(): MethodMetrics[] {
    return this.methods.map((m, i) => ({
      name: m.name,
      member: m.member,
      dropout: m.dropout,
      tta: m.tta,
      samples: this.samples[i]!,
      metrics: metricsOf(this.outcomes[i]!),
    }));
  }
}
