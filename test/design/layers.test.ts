/**
 * The house's layers (docs/design.md): a folder of src/ may import only from its own layer or a
 * lower one, no file imports itself back through a circle, and the CLI reaches the core only
 * through the library's face: the names src/index.ts exports.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { ROOT } from '../helpers/cli.js';
import { sourceProgram } from '../helpers/ts-program.js';

/** Layer of each folder (or top-level file) of src/, lowest first. */
const LAYERS: Record<string, number> = {
  errors: 0,
  paths: 0,
  stats: 0,
  io: 1,
  model: 2,
  preprocess: 3,
  engine: 4,
  pipeline: 5,
  evaluate: 5,
  select: 5,
  calibration: 5,
  conformal: 5,
  ensemble: 5,
  segmentation: 5,
  ood: 6,
  run: 6,
  plots: 7,
  report: 8,
  cli: 9,
  index: 9,
};

const SRC = path.join(ROOT, 'src');
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}
const group = (file: string) => {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length > 1 ? rel[0]! : rel[0]!.replace(/\.ts$/, '');
};
/** Every relative import (type-only and dynamic ones included: they bind the layers as much) of each file. */
const graph = new Map(
  files(SRC).map((file) => [
    file,
    [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^;]*? from '(\.[^']+)'|\bimport\('(\.[^']+)'\)/gm)].map((m) =>
      path.resolve(path.dirname(file), (m[1] ?? m[2])!.replace(/\.js$/, '.ts')),
    ),
  ]),
);

describe('the layers of src/ (docs/design.md)', () => {
  it('no import runs to a higher layer', () => {
    const upward: string[] = [];
    for (const [file, imports] of graph) {
      for (const target of imports) {
        const [from, to] = [group(file), group(target)];
        assert.ok(from in LAYERS && to in LAYERS, `${path.relative(SRC, file)}: no layer for ${from} or ${to}; add it to docs/design.md and this test`);
        if (LAYERS[to]! > LAYERS[from]!) upward.push(`${path.relative(SRC, file)} -> ${path.relative(SRC, target)}`);
      }
    }
    assert.deepEqual(upward, []);
  });

  it('no import circle', () => {
    // strongly connected components of the file graph (Tarjan)
    let index = 0;
    const order = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const circles: string[] = [];
    const visit = (v: string) => {
      order.set(v, index);
      low.set(v, index++);
      stack.push(v);
      onStack.add(v);
      for (const w of graph.get(v) ?? []) {
        if (!order.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, order.get(w)!));
      }
      if (low.get(v) === order.get(v)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(path.relative(SRC, w));
        } while (w !== v);
        if (component.length > 1) circles.push(component.sort().join(', '));
      }
    };
    for (const file of graph.keys()) if (!order.has(file)) visit(file);
    assert.deepEqual(circles, []);
  });

  it("the CLI imports from the core only the library's face: names src/index.ts exports, from the module that declares them", () => {
    // from the declaring module, not index.ts itself, so a command loads only the modules it runs (#38: start-up)
    const cliFiles = files(path.join(SRC, 'cli'));
    const program = sourceProgram([path.join(SRC, 'index.ts'), ...cliFiles]);
    const checker = program.getTypeChecker();
    const resolved = (symbol: ts.Symbol) => (symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol);
    const face = new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(path.join(SRC, 'index.ts'))!)!).map(resolved));
    const past: string[] = [];
    let checked = 0;
    for (const file of cliFiles) {
      const source = program.getSourceFile(file)!;
      for (const statement of source.statements) {
        if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
        const target = statement.moduleSpecifier.text;
        if (!target.startsWith('.') || group(path.resolve(path.dirname(file), target.replace(/\.js$/, '.ts'))) === 'cli') continue;
        const bindings = statement.importClause?.namedBindings;
        if (!bindings || !ts.isNamedImports(bindings)) {
          past.push(`${path.relative(SRC, file)}: import of ${target} without named bindings`);
          continue;
        }
        for (const element of bindings.elements) {
          checked++;
          if (!face.has(resolved(checker.getSymbolAtLocation(element.name)!))) past.push(`${path.relative(SRC, file)}: ${element.name.text} from ${target}`);
        }
      }
    }
    assert.ok(checked > 50, `only ${checked} names checked`);
    assert.deepEqual(past, []);
  });
});
