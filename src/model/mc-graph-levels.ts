/**
 * Prefix sharing inside the MC graph (#38): a stochastic-depth model's MC graph runs each part of
 * the network once per distinct prefix of drop decisions, as the engine does
 * (engine/prefix-sharing.ts), instead of T times. It takes the engine's level graph (sites and row
 * indices as inputs, model/prefix-levels.ts) and computes those inputs in the graph:
 * - the B x T rows, pass-major (row t * B + i is pass t of image i), are image i's at level 0;
 * - site k draws its numbers for every row with the runtime's random ops (as the plain MC graph
 *   does), and a site with a per-sample decision (model/drop-decisions.ts) groups the rows by
 *   (group at level k, decision): Unique over group * 2 + decision gives each row its group at
 *   level k + 1, each group its parent and its first row, whose numbers the group is fed;
 * - a site without one gives every row its own group from there on;
 * - the scores of the last level's groups are gathered back to the B x T rows, and the statistics
 *   follow as in the plain MC graph.
 */
import type { DropDecision } from './drop-decisions.js';
import { intAttribute, type GraphBuilder } from './graph-builder.js';
import { graphOf, protoOf, type OnnxGraph } from './graph.js';
import { cloneModel, DataType, elemTypeOf, tensorsRead } from './onnx.js';
import { RANDOM_OPS } from './sites.js';

/** What one site draws per row: an inverted-dropout mask at `rate`, or a random op's numbers (as engine/draws.ts's Draw). */
type LevelDraw = { kind: 'mask'; rate: number } | { kind: 'uniform'; low: number; high: number } | { kind: 'normal'; mean: number; scale: number };

/** The engine's level graph and what each of its inputs holds. */
export interface McGraphLevels {
  /** The level graph: the model with its sites and the row indices of each level as inputs. */
  graph: OnnxGraph;
  /** Each row-index input: level `level`'s groups, as rows of level `from`. */
  gathers: readonly { level: number; from: number; input: string }[];
  /** The level of the class scores. */
  outputLevel: number;
  sites: readonly {
    /** The graph input the site's numbers go to. */
    input: string;
    draw: LevelDraw;
    /** Per-row shape of the numbers (without the batch). */
    rowShape: readonly number[];
    /** The per-sample decision the rows are grouped by; undefined: each row its own group. */
    decision?: DropDecision;
    /** The `seed` attribute of the model's random op for this site, where it has one (convert --seed). */
    seed?: number;
  }[];
}

/**
 * A copy of the level graph without its level inputs, so its one input is the model's image input,
 * and with `model`'s outputs (the model the level graph was made from); undefined where a site draws
 * other than float32 (float16 masks: the graph then tiles its input).
 */
export function levelModel(levels: McGraphLevels, model: OnnxGraph): OnnxGraph | undefined {
  const leveled = cloneModel(protoOf(levels.graph));
  const graph = leveled.graph!;
  // the level graph leaves its outputs' shapes out (their rows are groups); the model's say the classes
  graph.output = cloneModel(protoOf(model)).graph!.output ?? [];
  const types = new Map((graph.input ?? []).map((i) => [i.name ?? '', elemTypeOf(i)]));
  if (levels.sites.some((site) => types.get(site.input) !== DataType.FLOAT)) return undefined;
  const levelInputs = new Set([...levels.sites.map((s) => s.input), ...levels.gathers.map((g) => g.input)]);
  graph.input = (graph.input ?? []).filter((i) => !levelInputs.has(i.name ?? ''));
  // what only the sites read (a DropPath's threshold) is gone with them: onnxruntime would warn of each
  const read = new Set((graph.node ?? []).flatMap((n) => tensorsRead(n)));
  graph.initializer = (graph.initializer ?? []).filter((t) => read.has(t.name ?? ''));
  return graphOf(leveled);
}

/**
 * Adds to `build` the nodes that compute every level input for `passes` passes of the batch of
 * `input`. Returns the output level's group of each of the B x T rows (pass-major): gathering the
 * class scores (one row per group) by it gives every pass's.
 */
export function leveledRows(build: GraphBuilder, levels: McGraphLevels, passes: number, input: string): string {
  const { node, int64, float } = build;
  const toInt64 = [intAttribute('to', DataType.INT64)];
  const batch = node('Gather', [node('Shape', [input], 'levels.input_shape'), int64('levels.zero', [0])], 'levels.batch', [intAttribute('axis', 0)]);
  const rowCount = node('Mul', [batch, int64('levels.passes', [passes])], 'levels.rows');
  const zero = int64('levels.zero_scalar', [0], true);
  const one = int64('levels.one_scalar', [1], true);
  const rowIndex = node('Range', [zero, node('Squeeze', [rowCount, int64('levels.squeeze_axes', [0])], 'levels.row_count'), one], 'levels.row_index');
  // level 0: row t * B + i belongs to image i (an empty batch has no rows: its divisor need only be nonzero)
  let group = node('Mod', [rowIndex, node('Max', [batch, int64('levels.one', [1])], 'levels.divisor')], 'levels.group0');
  /** parent[level]: each group of that level's group at the level before it. */
  const parent: string[] = [''];
  /** Each level's group of every row. */
  const groupOf: string[] = [group];
  levels.sites.forEach((site, k) => {
    const shape = node('Concat', [rowCount, int64(`levels.site${k}.row_shape`, [...site.rowShape])], `levels.site${k}.shape`, [intAttribute('axis', 0)]);
    const zeros = node('ConstantOfShape', [shape], `levels.site${k}.zeros`);
    const seed = site.seed !== undefined ? [{ name: 'seed', type: 1, f: site.seed }] : [];
    const uniform = (low: number, high: number) =>
      node('RandomUniformLike', [zeros], `levels.site${k}.uniform`, [
        { name: 'low', type: 1, f: low },
        { name: 'high', type: 1, f: high },
        intAttribute('dtype', DataType.FLOAT),
        ...seed,
      ]);
    const { draw } = site;
    let drawn: string;
    if (draw.kind === 'uniform') drawn = uniform(draw.low, draw.high);
    else if (draw.kind === 'normal')
      drawn = node('RandomNormalLike', [zeros], `levels.site${k}.normal`, [
        { name: 'mean', type: 1, f: draw.mean },
        { name: 'scale', type: 1, f: draw.scale },
        intAttribute('dtype', DataType.FLOAT),
        ...seed,
      ]);
    else {
      // kept with probability 1 - rate, as 1 / (1 - rate)
      const kept = node(
        'Cast',
        [node('GreaterOrEqual', [uniform(0, 1), float(`levels.site${k}.rate`, draw.rate)], `levels.site${k}.kept`)],
        `levels.site${k}.kept_float`,
        [intAttribute('to', DataType.FLOAT)],
      );
      drawn = node('Mul', [kept, float(`levels.site${k}.scale`, 1 / (1 - draw.rate))], `levels.site${k}.mask`);
    }
    let key: string;
    if (site.decision) {
      const value = node('Reshape', [drawn, int64(`levels.site${k}.flat`, [-1])], `levels.site${k}.value`);
      const decision = decisionOf(build, site.decision, value, `levels.site${k}`);
      key = node(
        'Add',
        [node('Mul', [group, int64(`levels.two${k}`, [2], true)], `levels.site${k}.twice`), node('Cast', [decision], `levels.site${k}.decision`, toInt64)],
        `levels.site${k}.key`,
      );
    } else key = rowIndex;
    const [unique, first, inverse] = [`unique`, `first`, `inverse`].map((role) => `${build.prefix}levels.site${k}.${role}`) as [string, string, string];
    build.nodes.push({
      opType: 'Unique',
      name: `${build.prefix}levels.site${k}.unique`,
      input: [key],
      output: [unique, first, inverse, `${build.prefix}levels.site${k}.counts`],
      attribute: [intAttribute('sorted', 1)],
    });
    // a group's parent: its key halved, or (no decision: one group per row) its row's group before
    parent.push(
      site.decision
        ? node('Div', [unique, int64(`levels.half${k}`, [2], true)], `levels.site${k}.parent`)
        : node('Gather', [group, unique], `levels.site${k}.parent`, [intAttribute('axis', 0)]),
    );
    group = inverse;
    groupOf.push(group);
    // each group is fed the numbers of its first row, under the name the level graph reads
    build.nodes.push({
      opType: 'Gather',
      name: `${build.prefix}levels.site${k}.fed`,
      input: [drawn, first],
      output: [site.input],
      attribute: [intAttribute('axis', 0)],
    });
  });
  // row indices: level l's groups as groups of level j, composing the parents
  const rows = new Map<string, string>();
  const rowsOf = (level: number, from: number): string => {
    if (level - 1 === from) return parent[level]!;
    const key = `${level}.${from}`;
    if (!rows.has(key)) rows.set(key, node('Gather', [rowsOf(level - 1, from), parent[level]!], `levels.rows${level}_${from}`, [intAttribute('axis', 0)]));
    return rows.get(key)!;
  };
  for (const gather of levels.gathers) {
    build.nodes.push({
      opType: 'Identity',
      name: `${build.prefix}levels.feed_${gather.input}`,
      input: [rowsOf(gather.level, gather.from)],
      output: [gather.input],
    });
  }
  return groupOf[levels.outputLevel]!;
}

/** The decision of each row (bool or a small float), from its one number `value` [rows]. */
function decisionOf(build: GraphBuilder, decision: DropDecision, value: string, role: string): string {
  const { node, float } = build;
  if (decision.kind === 'mask') return node('Greater', [value, float(`${role}.nothing`, 0)], `${role}.not_dropped`);
  if (decision.kind === 'floor') {
    // Floor(u + offset) takes two values, floor(offset) and one more: 0 or 1 after the subtraction
    const floored = node('Floor', [node('Add', [value, float(`${role}.offset`, decision.offset)], `${role}.sum`)], `${role}.floor`);
    return node('Sub', [floored, float(`${role}.base`, Math.floor(decision.offset))], `${role}.step`);
  }
  const threshold = float(`${role}.threshold`, decision.threshold);
  return node(decision.op, decision.drawFirst ? [value, threshold] : [threshold, value], `${role}.compared`);
}

/** The `seed` attribute (convert --seed) of the random op among a site's nodes (`nodeIndices` in `graph`), where it has one. */
export function siteSeed(graph: OnnxGraph, nodeIndices: readonly number[]): number | undefined {
  const nodes = protoOf(graph).graph?.node ?? [];
  const random = nodeIndices.map((i) => nodes[i]).find((n) => n !== undefined && RANDOM_OPS.includes(n.opType ?? ''));
  const seed = random?.attribute?.find((a) => a.name === 'seed')?.f;
  return typeof seed === 'number' ? seed : undefined;
}
