/**
 * The docs stay true to the code: every page is reachable from the README, every flag the docs
 * show in code exists in some command's `--help`, every version of a dependency they name is the
 * one package.json pins, and every bench figure they quote is marked and is the one the bench wrote.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { FIGURES, figurePages, markedNames, rewriteMarked } from '../../bench/doc-figures.js';
import { BIN, ROOT } from '../helpers/cli.js';

const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const PAGES = [
  'README.md',
  'CONTRIBUTING.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Flags of other tools that the docs show in code, each with its tool: nothing else may be unknown. */
const OTHER_TOOLS: Record<string, string> = {
  '--global': 'npm install',
  '--test': 'node',
  '--extra-index-url': 'pip',
  '--find-links': 'pip',
  '--index-url': 'pip',
  '--requeue': 'sbatch',
  '--signal': 'sbatch',
  '--kill-on-invalid-dep': 'sbatch',
  '--halves': 'fixtures/evaluate/export_test_set.py',
  '--files-from': 'rsync',
  '--cpu-prof': 'node',
  '--splitting': 'esbuild',
};

/** The flags `npm run bench -- ...` takes: the ones bench/ reads from its argv. */
function benchFlags(): string[] {
  return readdirSync(path.join(ROOT, 'bench'))
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => [...read(`bench/${f}`).matchAll(/argv\.includes\('(--[a-z-]+)'\)/g)].map((m) => m[1]!));
}

/** The text inside code spans and fenced code blocks of a Markdown page. */
export function codeOf(markdown: string): string[] {
  const code: string[] = [];
  const prose = markdown.replace(/^(```|~~~)[^\n]*\n([\s\S]*?)^\1[ \t]*$/gm, (_, _fence: string, body: string) => {
    code.push(body);
    return '';
  });
  for (const m of prose.matchAll(/(`+)([\s\S]+?)\1/g)) code.push(m[2]!);
  return code;
}

/** Every long flag in a text: `--name`, not `---` rules or the `--` that ends options. */
function flagsIn(text: string): string[] {
  return [...text.matchAll(/(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*/g)].map((m) => m[0]);
}

function helpFlags(): Set<string> {
  const help = (args: string[]) => execFileSync(process.execPath, [BIN, ...args, '--help'], { encoding: 'utf8' });
  const top = help([]);
  const commands = [...top.split('Commands:')[1]!.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]!).filter((c) => c !== 'help');
  assert.ok(commands.length >= 9, `commands read from --help: ${commands.join(', ')}`);
  return new Set([top, ...commands.map((c) => help([c]))].flatMap(flagsIn));
}

describe('docs true to the code', () => {
  it('every docs page is linked from the README, and the README stays under 300 lines', () => {
    const readme = read('README.md');
    const missing = PAGES.filter((p) => p.startsWith('docs/') && !readme.includes(`](${p})`));
    assert.deepEqual(missing, [], 'docs pages the README does not link');
    assert.ok(readme.split('\n').length < 300, `README.md has ${readme.split('\n').length} lines`);
  });

  it("every --flag shown in code in the docs is in some command's --help, the bench's argv or the list of other tools' flags", () => {
    const known = new Set([...helpFlags(), ...benchFlags()]);
    const unknown = PAGES.flatMap((page) =>
      codeOf(read(page))
        .flatMap(flagsIn)
        .filter((flag) => !known.has(flag) && !(flag in OTHER_TOOLS))
        .map((flag) => `${page}: ${flag}`),
    );
    assert.deepEqual([...new Set(unknown)], []);
  });

  it('the code-span reader finds spans and fenced blocks', () => {
    assert.deepEqual(codeOf('a `--x` b\n```sh\nrun --y\n```\nc ``--z``'), ['run --y\n', '--x', '--z']);
  });
});

describe('versions the docs name', () => {
  const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  const pinned = { ...pkg.dependencies, ...pkg.devDependencies };
  // scripts/gpu-pack.sh bundles an older onnxruntime-node on purpose (docs/gpu.md says why)
  const packed = /npm pack [^\n]*onnxruntime-node@(\d+\.\d+\.\d+)/.exec(read('scripts/gpu-pack.sh'))?.[1];

  it("every dependency version a page names is package.json's; in a paragraph on gpu-pack.sh, the one it packs", () => {
    assert.ok(packed, 'the onnxruntime-node version scripts/gpu-pack.sh packs');
    const wrong: string[] = [];
    for (const page of PAGES) {
      for (const paragraph of read(page).split(/\n\s*\n/)) {
        for (const [name, range] of Object.entries(pinned)) {
          const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          for (const m of paragraph.matchAll(new RegExp(`(?<![\\w./-])${escaped}[ @]v?(\\d+\\.\\d+(?:\\.\\d+)?)(?![\\w.])`, 'g'))) {
            const want = paragraph.includes('gpu-pack.sh') && name === 'onnxruntime-node' ? packed : range.replace(/^[\^~]/, '');
            if (!`${want}.`.startsWith(`${m[1]}.`)) wrong.push(`${page}: "${m[0]}", expected ${want}`);
          }
        }
      }
    }
    assert.deepEqual(wrong, []);
  });
});

describe('bench figures the docs quote (no bench run)', () => {
  const benchmarks = read('docs/benchmarks.md');

  it('every figure the bench can write resolves to one cell of docs/benchmarks.md', () => {
    for (const [name, figure] of Object.entries(FIGURES)) assert.doesNotThrow(() => figure(benchmarks), name);
  });

  it('every marked region names a figure the bench writes, sits on a page it rewrites, and holds what benchmarks.md gives', () => {
    const rewritten = new Set(figurePages(ROOT));
    let marks = 0;
    for (const page of PAGES) {
      const text = read(page);
      const names = markedNames(text);
      marks += names.length;
      if (names.length) assert.ok(rewritten.has(page), `${page} marks bench figures but the bench does not rewrite it`);
      assert.deepEqual(
        names.filter((n) => !(n in FIGURES)),
        [],
        `${page}: marked names bench/doc-figures.ts does not know`,
      );
      assert.equal(
        rewriteMarked(text, benchmarks),
        text,
        `${page}: a marked figure differs from docs/benchmarks.md (node dist/bench/doc-figures.js rewrites them)`,
      );
    }
    assert.ok(marks > 0);
  });

  it('a marked region is rewritten whatever it held; an unknown name is refused', () => {
    const page = '| a | b |\n|---|---|\n';
    const bench = `Adaptive rounds with trunk reuse (x): trunk once 0.1 s, trunk per round 0.2 s (2.00x)\n${page}`;
    assert.equal(
      rewriteMarked('took <!-- bench:rounds-speedup -->9x<!-- /bench --> less', bench),
      'took <!-- bench:rounds-speedup -->2.00x<!-- /bench --> less',
    );
    assert.throws(() => rewriteMarked('<!-- bench:nothing -->1<!-- /bench -->', bench), /names no figure/);
  });
});
