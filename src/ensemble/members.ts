/**
 * The members of an ensemble, loaded and checked: every member has the same classes (count and
 * labels where the models name them), no member is given twice, and each keeps its own
 * preprocessing from its metadata. Members are kept in the order of their SHA-256, so what a run
 * computes does not depend on the order they were given in; each remembers its place in that order
 * for display.
 */
import { createHash } from 'node:crypto';
import { McModel } from '../engine/mc-model.js';
import type { LoadOptions } from '../engine/options.js';
import { ModelError, UsageError } from '../errors.js';
import { preprocessRecord } from '../preprocess/record.js';
import { resolvePreprocess, type PreprocessOverrides, type PreprocessSpec } from '../preprocess/spec.js';

/** One member: its file, its place among the given members, the loaded model, its preprocessing, and whether its passes differ. */
export interface Member {
  path: string;
  /** Index among the members as given (`-m` order). */
  given: number;
  model: McModel;
  preprocess: PreprocessSpec;
  /** Whether it has dropout (or other random ops) whose passes differ; a member without runs one pass (a plain deep-ensemble member). */
  stochastic: boolean;
}

/** The members of a run, loaded: several files, or one (a plain run). The caller disposes them. */
export class Members {
  private constructor(
    /** In the order of their SHA-256 (ties are refused). */
    readonly list: readonly Member[],
    readonly classes: number,
    /** Class labels every member that names them agrees on; undefined when none names them. */
    readonly labels: string[] | undefined,
  ) {}

  /**
   * Loads every file with the same load options and preprocessing overrides. With several files a
   * member without dropout is accepted (one pass); with one, the load is exactly a plain run's.
   * Throws ModelError (exit 3) for members whose classes differ, UsageError for one given twice.
   */
  static async load(paths: readonly string[], load: LoadOptions, preprocess: PreprocessOverrides): Promise<Members> {
    if (paths.length === 0) throw new UsageError('An ensemble needs at least one model');
    const loaded: Member[] = [];
    // a warning every member would give (a CUDA fallback) is said once
    const said = new Set<string>();
    const warn = load.onWarning;
    if (warn) load = { ...load, onWarning: (message: string) => void (said.has(message) || (said.add(message), warn(message))) };
    try {
      for (const [given, path] of paths.entries()) {
        const model = await McModel.load(path, paths.length > 1 ? { ...load, allowDeterministic: true } : load);
        loaded.push({ path, given, model, preprocess: resolvePreprocess(model.info, preprocess), stochastic: isStochastic(model) });
        const twice = loaded.find((m) => m !== loaded.at(-1) && m.model.info.sha256 === model.info.sha256);
        if (twice) throw new UsageError(`${path} is the same model as ${twice.path} (the same SHA-256): give each member once`);
      }
      const labels = agreedClasses(loaded);
      return new Members(
        [...loaded].sort((a, b) => (a.model.info.sha256 < b.model.info.sha256 ? -1 : 1)),
        loaded[0]!.model.info.classes,
        labels,
      );
    } catch (error) {
      await Promise.all(loaded.map((m) => m.model.dispose()));
      throw error;
    }
  }

  /** One model given: a plain run. */
  get single(): boolean {
    return this.list.length === 1;
  }

  /** The members in the order they were given. */
  get asGiven(): Member[] {
    return [...this.list].sort((a, b) => a.given - b.given);
  }

  /**
   * The identity of the ensemble where a run records one model's: the one member's SHA-256, or for
   * several the SHA-256 of their sorted digests (so a calibration or a resume knows the ensemble).
   */
  get sha256(): string {
    return this.identity(['identity']);
  }

  /**
   * The identity of a run of these members on these views (their names, the identity first): the
   * members' (sha256) with the identity view alone, else the SHA-256 of the members' digests and
   * the views' names, so a calibration fitted with other views is another run's.
   */
  identity(views: readonly string[]): string {
    if (this.single && views.length === 1) return this.list[0]!.model.info.sha256;
    const digests = `mc-dropout ensemble:${this.list.map((m) => m.model.info.sha256).join(',')}`;
    return createHash('sha256')
      .update(views.length === 1 ? digests : `${digests}|views:${views.join(',')}`)
      .digest('hex');
  }

  /** Whether any member has passes that differ (else every member runs one pass). */
  get stochastic(): boolean {
    return this.list.some((m) => m.stochastic);
  }

  /** The distinct preprocessings of the members, each once, as their records. */
  get distinctPreprocess(): PreprocessSpec[] {
    const seen = new Map<string, PreprocessSpec>();
    for (const m of this.list) seen.set(JSON.stringify(preprocessRecord(m.preprocess)), m.preprocess);
    return [...seen.values()];
  }

  async dispose(): Promise<void> {
    await Promise.all(this.list.map((m) => m.model.dispose()));
  }
}

/** A model whose passes differ: it has sites whose masks are drawn, and they do not all have rate 0. */
function isStochastic(model: McModel): boolean {
  return model.info.drawnSites.length > 0 && model.info.identicalPasses === undefined;
}

/** The labels every member that names its classes agrees on; ModelError naming the member and what differs. */
function agreedClasses(members: readonly Member[]): string[] | undefined {
  const first = members[0]!;
  const classes = first.model.info.classes;
  let named: Member | undefined;
  for (const m of members) {
    const { info } = m.model;
    if (info.classes !== classes)
      throw new ModelError(
        `The member ${m.path} has ${info.classes} classes but ${first.path} has ${classes}: every member of an ensemble must predict the same classes`,
        'E_MEMBERS',
      );
    const labels = info.metadata.labels;
    if (!labels) continue;
    if (!named) {
      named = m;
      continue;
    }
    const theirs = named.model.info.metadata.labels!;
    const c = labels.findIndex((label, i) => label !== theirs[i]);
    if (c >= 0)
      throw new ModelError(
        `The member ${m.path} calls class ${c} "${labels[c]}" but ${named.path} calls it "${theirs[c]}": every member of an ensemble must predict the same classes in the same order`,
        'E_MEMBERS',
      );
  }
  return named?.model.info.metadata.labels;
}
