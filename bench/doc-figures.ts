/**
 * The bench's figures that other docs pages quote. A page marks each one as
 * `<!-- bench:NAME -->1.20x<!-- /bench -->`; a full `npm run bench` writes docs/benchmarks.md and then
 * rewrites every marked region (README.md, docs/*.md) from it, so a quoted figure is always the latest run's, never pasted.
 * `node dist/bench/doc-figures.js` rewrites them from the docs/benchmarks.md there is (no bench run).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One table of docs/benchmarks.md: the line above it, its header and its rows (cells trimmed). */
export interface BenchTable {
  title: string;
  header: string[];
  rows: string[][];
}

/** The tables of docs/benchmarks.md, in order. */
export function tablesOf(page: string): BenchTable[] {
  const lines = page.split('\n');
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split('|')
      .map((c) => c.trim());
  const tables: BenchTable[] = [];
  for (let i = 1; i + 1 < lines.length; i++) {
    if (!lines[i]!.startsWith('|') || lines[i - 1]!.startsWith('|') || !/^\|[-| ]+\|$/.test(lines[i + 1]!)) continue;
    const table: BenchTable = { title: lines[i - 1]!, header: cells(lines[i]!), rows: [] };
    for (let j = i + 2; j < lines.length && lines[j]!.startsWith('|'); j++) table.rows.push(cells(lines[j]!));
    tables.push(table);
  }
  return tables;
}

/** A row's cell: the table whose title starts with `title`, the one row whose cells are `match`'s values (`x*`: start with x), `column`'s cell. */
export function cellOf(page: string, title: string, match: Record<string, string>, column: string): string {
  const table = tablesOf(page).find((t) => t.title.startsWith(title));
  if (!table) throw new Error(`docs/benchmarks.md has no table titled "${title}..."`);
  const index = (name: string) => {
    const i = table.header.indexOf(name);
    if (i < 0) throw new Error(`"${title}..." has no column "${name}" (${table.header.join(', ')})`);
    return i;
  };
  const rows = table.rows.filter((row) =>
    Object.entries(match).every(([name, start]) => (start.endsWith('*') ? row[index(name)]!.startsWith(start.slice(0, -1)) : row[index(name)] === start)),
  );
  if (rows.length !== 1) throw new Error(`"${title}...": ${rows.length} rows match ${JSON.stringify(match)}, expected 1`);
  return rows[0]![index(column)]!;
}

/** A figure from a line of its own (not a table): the first group of `pattern`. */
function lineFigure(page: string, pattern: RegExp): string {
  const m = pattern.exec(page);
  if (!m) throw new Error(`docs/benchmarks.md has no line matching ${pattern}`);
  return m[1]!;
}

const INFERENCE = 'Inference only';
const RANDOM = 'Random ops';
const E2E = 'End to end (files';
const PHOTOS = 'End to end on photos';
const ADAPTIVE = 'Adaptive T against';
const MC_GRAPH = 'The MC graph';
const TARGETS = 'Targets';
const MNV2_HEAD = 'MobileNetV2 224x224, head dropout (B=8)';
const MNV2_TRUNK = 'MobileNetV2 224x224, trunk + head dropout (B=8)';
const PHOTO_HEAD = { model: 'MobileNetV2-size, head dropout', photos: '48 JPEGs*' };
const PHOTO_12MP = { model: 'MobileNetV2-size, head dropout', photos: '24 JPEGs 4032x3024*' };
const cost = (model: string, method: string, passes: string) => (p: string) =>
  cellOf(p, INFERENCE, { model, method: `${method}*`, T: passes }, 'cost vs 1 deterministic pass');
const target = (start: string) => (p: string) => cellOf(p, TARGETS, { target: `${start}*` }, 'measured');
const randomCost = (model: string, method: string) => (p: string) => cellOf(p, RANDOM, { model: `${model}*`, method: `${method}*` }, 'cost vs plain');
const photo =
  (match: Record<string, string>, column = 'vs floor') =>
  (p: string) =>
    cellOf(p, PHOTOS, match, column);

/** Every figure a page may mark, by name: how it is read from docs/benchmarks.md. */
export const FIGURES: Record<string, (page: string) => string> = {
  'mnv2-head-t10-cost': cost(MNV2_HEAD, 'trunk reuse', '10'),
  'mnv2-head-t30-cost': cost(MNV2_HEAD, 'trunk reuse', '30'),
  'mnv2-head-sequential-t10-cost': cost(MNV2_HEAD, 'sequential', '10'),
  'mnv2-head-sequential-t30-cost': cost(MNV2_HEAD, 'sequential', '30'),
  'mnv2-trunk-t10-cost': cost(MNV2_TRUNK, 'trunk reuse', '10'),
  'replicated-vs-sequential-b64': target('bundled fashion-mnist 32x32 (B=64): replicated'),
  'replicated-vs-sequential-b1': target('bundled fashion-mnist 32x32 (B=1): replicated'),
  'trunk-reuse-vs-sequential-b64': target('bundled fashion-mnist 32x32 (B=64): trunk reuse'),
  'trunk-reuse-vs-sequential-b1': target('bundled fashion-mnist 32x32 (B=1): trunk reuse'),
  'droppath-seeded-cost': randomCost('timm', 'mc-dropout, seeded'),
  'mnv3-seeded-cost': randomCost('torchvision', 'mc-dropout, seeded'),
  'droppath-default-cost': randomCost('timm', 'mc-dropout default'),
  'mnv3-default-cost': randomCost('torchvision', 'mc-dropout default'),
  'e2e-mc-t10-cost': (p) => cellOf(p, E2E, { run: 'bundled model, 500 PNGs, MC T=10' }, 'cost vs deterministic'),
  'e2e-rss-4000': (p) => cellOf(p, E2E, { run: 'bundled model, 4000 PNGs*' }, 'peak RSS MiB'),
  'e2e-rss-32000': (p) => cellOf(p, E2E, { run: 'bundled model, 32000 PNGs*' }, 'peak RSS MiB'),
  'photos-640-mc-vs-floor': photo({ ...PHOTO_HEAD, run: 'mc-dropout -t 10' }),
  'photos-640-mc-images-per-s': photo({ ...PHOTO_HEAD, run: 'mc-dropout -t 10' }, 'images/s'),
  'photos-640-deterministic-vs-floor': photo({ ...PHOTO_HEAD, run: 'mc-dropout --deterministic' }),
  'startup-vs-floor': target('MobileNetV2-size, one JPEG, whole process'),
  'photos-12mp-pil-floor-vs-floor': photo({ ...PHOTO_12MP, run: 'PIL-exact floor*' }),
  'photos-12mp-mc-vs-floor': photo({ ...PHOTO_12MP, run: 'mc-dropout -t 10' }),
  'photos-12mp-crop-vs-floor': photo({ ...PHOTO_12MP, run: 'mc-dropout -t 10 --resize center-crop*' }),
  'photos-12mp-fast-vs-floor': photo({ ...PHOTO_12MP, run: 'mc-dropout -t 10 --resize-engine fast' }),
  'photos-12mp-hugepages-vs-floor': photo({ ...PHOTO_12MP, run: 'mc-dropout -t 10, GLIBC_TUNABLES*' }),
  'photos-12mp-mc-images-per-s': photo({ ...PHOTO_12MP, run: 'mc-dropout -t 10' }, 'images/s'),
  'photos-12mp-hugepages-images-per-s': photo({ ...PHOTO_12MP, run: 'mc-dropout -t 10, GLIBC_TUNABLES*' }, 'images/s'),
  'photos-droppath-mc-images-per-s': photo({ model: 'MobileNetV2-size, DropPath*', run: 'mc-dropout -t 10' }, 'images/s'),
  'photos-droppath-mc-vs-floor': photo({ model: 'MobileNetV2-size, DropPath*', run: 'mc-dropout -t 10' }),
  'photos-peak-rss': target('peak RSS under 1024 MiB on every end-to-end photo row'),
  'adaptive-mean-passes': (p) => cellOf(p, ADAPTIVE, { run: '--times auto' }, 'mean passes'),
  'adaptive-fewer-passes': (p) => cellOf(p, ADAPTIVE, { run: '--times auto' }, 'passes vs T=100'),
  'adaptive-top1-agreement': (p) => cellOf(p, ADAPTIVE, { run: '--times auto' }, 'top-1 agreement'),
  'rounds-trunk-once': (p) => lineFigure(p, /^Adaptive rounds with trunk reuse .*: trunk once ([\d.]+ s)/m),
  'rounds-trunk-per-round': (p) => lineFigure(p, /^Adaptive rounds with trunk reuse .*, trunk per round ([\d.]+ s)/m),
  'rounds-speedup': (p) => lineFigure(p, /^Adaptive rounds with trunk reuse .*\(([\d.]+x)\)$/m),
  'mc-graph-bundled': (p) => cellOf(p, MC_GRAPH, { model: 'bundled*' }, 'graph / engine'),
  'mc-graph-mnv2': (p) => cellOf(p, MC_GRAPH, { model: 'MobileNetV2*' }, 'graph / engine'),
  'mc-graph-droppath': (p) => cellOf(p, MC_GRAPH, { model: 'timm*' }, 'graph / engine'),
  'mc-graph-browser': (p) => lineFigure(p, /^The bundled model's MC graph .*: ([\d.]+ images\/s)$/m),
};

const MARK = /<!-- bench:([a-z0-9-]+) -->([\s\S]*?)<!-- \/bench -->/g;

/** The figure names a page marks, in order. */
export function markedNames(text: string): string[] {
  return [...text.matchAll(MARK)].map((m) => m[1]!);
}

/** `text` with every marked region holding its figure from `benchmarks` (docs/benchmarks.md); an unknown name throws. */
export function rewriteMarked(text: string, benchmarks: string): string {
  return text.replace(MARK, (_, name: string) => {
    const figure = FIGURES[name];
    if (!figure) throw new Error(`<!-- bench:${name} --> names no figure of bench/doc-figures.ts`);
    return `<!-- bench:${name} -->${figure(benchmarks)}<!-- /bench -->`;
  });
}

/** The pages whose marked figures the bench rewrites: README.md and docs/*.md but benchmarks.md, relative to the root. */
export function figurePages(root: string): string[] {
  const docs = readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md') && f !== 'benchmarks.md');
  return ['README.md', ...docs.map((f) => `docs/${f}`)];
}

/** Rewrites the marked figures of every page from docs/benchmarks.md; returns the pages changed. */
export function writeDocFigures(root: string): string[] {
  const benchmarks = readFileSync(path.join(root, 'docs', 'benchmarks.md'), 'utf8');
  const changed: string[] = [];
  for (const page of figurePages(root)) {
    const text = readFileSync(path.join(root, page), 'utf8');
    const next = rewriteMarked(text, benchmarks);
    if (next !== text) {
      writeFileSync(path.join(root, page), next);
      changed.push(page);
    }
  }
  return changed;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const changed = writeDocFigures(fileURLToPath(new URL('../../', import.meta.url)));
  console.log(changed.length ? `rewrote the bench figures of ${changed.join(', ')}` : 'every marked bench figure is already the one docs/benchmarks.md gives');
}
