/**
 * The library's face (src/index.ts): every export documented at its declaration, and every
 * parameter a library message names (errors.ts `param`) shown by the CLI as a flag.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { PARAMETER_FLAGS, withFlags } from '../../src/cli/flags.js';
import { invalidParameter, param, UsageError } from '../../src/errors.js';
import { ROOT } from '../helpers/cli.js';

const SRC = path.join(ROOT, 'src');
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

describe("the library's face", () => {
  it('every export of src/index.ts carries TSDoc at its declaration', () => {
    const program = ts.createProgram([path.join(SRC, 'index.ts')], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
    });
    const checker = program.getTypeChecker();
    const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(path.join(SRC, 'index.ts'))!)!);
    assert.ok(exports.length > 100, `expected the whole face, found ${exports.length} exports`);
    const undocumented = exports
      .filter((e) => {
        const symbol = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
        return ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() === '';
      })
      .map((e) => e.name);
    assert.deepEqual(undocumented, []);
  });

  it("param names a parameter in backticks; invalidParameter is a UsageError in sharp's shape", () => {
    assert.equal(param('dropoutRate'), '`dropoutRate`');
    assert.equal(param({ dropout: 'force' }), "`dropout: 'force'`");
    assert.equal(param({ format: 'jsonl', perClass: true }), "`format: 'jsonl', perClass: true`");
    const error = invalidParameter('probs', '[T, 10] probabilities', 25, 'values');
    assert.ok(error instanceof UsageError);
    assert.equal(error.message, 'Expected [T, 10] probabilities for `probs` but received 25 values');
    assert.equal(invalidParameter('device', 'auto, cpu, cuda or cuda:N', 'gpu').message, "Expected auto, cpu, cuda or cuda:N for `device` but received 'gpu'");
  });

  it('the CLI shows the parameters it knows as flags and leaves other backticked text alone', () => {
    assert.equal(withFlags(`Run with ${param({ dropout: 'force' })} to make them live.`), 'Run with --dropout force to make them live.');
    assert.equal(
      withFlags(`give one with ${param('dropoutRate')}; \`mc-dropout doctor\` says more`),
      'give one with --dropout-rate; `mc-dropout doctor` says more',
    );
    assert.equal(
      withFlags(`written with ${param({ format: 'jsonl', perClass: true })}, or a ${param('savePasses')} .npy`),
      'written with -f jsonl --per-class, or a --save-passes .npy',
    );
  });

  it('every parameter a library message names has a flag in the CLI table, and library messages name no flag', () => {
    const named = new Set<string>();
    const flagged: string[] = [];
    for (const file of files(SRC).filter((f) => !f.startsWith(path.join(SRC, 'cli') + path.sep) && !f.endsWith('errors.ts'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/param\('(\w+)'\)/g)) named.add(`\`${m[1]}\``);
      for (const m of text.matchAll(/param\(\{ ([^}]+) \}\)/g)) named.add(`\`${m[1]}\``);
      text.split('\n').forEach((line, i) => {
        if (/^\s*(\*|\/\/|\/\*\*)/.test(line) || !/Error\(|onWarning|warnings\.push/.test(line)) return;
        // a whole command line suggested to the user (mc-dropout convert FILE --revive-paddle ...) is not a flag of the failing call
        const bare = line.replace(/mc-dropout (convert|inspect|doctor|predict)[^;,)]*/g, '');
        if (/(^|[\s(`'])--?[a-z][a-z-]*\b/.test(bare.replace(/'--[a-z-]+'/g, ''))) flagged.push(`${path.relative(SRC, file)}:${i + 1}`);
      });
    }
    assert.ok(named.size >= 15, `found only ${named.size} parameters named`);
    const unmapped = [...named].filter((p) => withFlags(p) === p);
    assert.deepEqual(unmapped, [], `add them to PARAMETER_FLAGS (${Object.keys(PARAMETER_FLAGS).length} known)`);
    assert.deepEqual(flagged, []);
  });
});
