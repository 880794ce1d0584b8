/**
 * The library's face (src/index.ts): every export documented at its declaration, and every
 * parameter a library message names (errors.ts `param`) shown by the CLI as a flag.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { COMMAND_FLAGS, LIBRARY_ONLY, withFlags, type CommandName } from '../../src/cli/flags.js';
import { invalidParameter, param, UsageError } from '../../src/errors.js';
import { ROOT } from '../helpers/cli.js';
import { sourceProgram } from '../helpers/ts-program.js';

const SRC = path.join(ROOT, 'src');
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

describe("the library's face", () => {
  it('every export of src/index.ts carries TSDoc at its declaration', () => {
    const program = sourceProgram([path.join(SRC, 'index.ts')]);
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
    assert.equal(withFlags(`Run with ${param({ dropout: 'force' })} to make them live.`, 'predict'), 'Run with --dropout force to make them live.');
    assert.equal(
      withFlags(`give one with ${param('dropoutRate')}; \`mc-dropout doctor\` says more`, 'predict'),
      'give one with --dropout-rate; `mc-dropout doctor` says more',
    );
    assert.equal(
      withFlags(`written with ${param({ format: 'jsonl', perClass: true })}, or a ${param('savePasses')} .npy`, 'evaluate'),
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
    const known = new Set(Object.values(COMMAND_FLAGS).flatMap((table) => Object.keys(table)));
    const unmapped = [...named].filter((p) => !known.has(p.slice(1, -1)));
    assert.deepEqual(unmapped, [], 'add them to the command tables of src/cli/flags.ts');
    assert.deepEqual(flagged, []);
  });

  it('a name that means two things maps per command: output is the model output, alpha the miscoverage, never the alpha channel', () => {
    for (const command of ['predict', 'evaluate', 'report', 'calibrate', 'inspect', 'convert'] as const) {
      assert.equal(withFlags(param('output'), command), '--model-output NAME', command);
    }
    for (const command of ['predict', 'evaluate', 'report', 'calibrate'] as const) assert.equal(withFlags(param('alpha'), command), '--miscoverage', command);
    assert.equal(withFlags(param('output'), 'merge'), '`output`');
  });

  it('every parameter a library message can raise maps to a flag of the command that raised it', () => {
    // the library entry of each command, and every file it reaches through relative imports
    const entries: Record<CommandName, string[]> = {
      predict: ['run/predict/execute.ts', 'run/shards.ts'],
      evaluate: ['run/evaluate/run.ts', 'run/evaluate/from-file.ts'],
      report: ['run/evaluate/run.ts', 'run/evaluate/from-file.ts'],
      calibrate: ['run/calibrate-run.ts'],
      inspect: ['run/inspect.ts'],
      convert: ['run/convert.ts'],
      merge: ['run/merge.ts'],
      select: ['run/select.ts'],
      doctor: ['run/doctor.ts'],
    };
    // reached through a shared import, but never set by the command: evaluate borrows predict's
    // labels, not its resume; inspect and convert load no passes; select reads rows, not images
    const runOnly = ['resume', 'shard', 'adaptive', 'mcGraph', 'mcGraphSeed'];
    const neverSet: Record<CommandName, string[]> = {
      predict: ['mcGraph', 'mcGraphSeed', 'truthFile'],
      evaluate: runOnly,
      report: runOnly,
      calibrate: runOnly,
      inspect: ['passes', 'adaptive', 'mcGraph', 'mcGraphSeed'],
      convert: ['passes', 'adaptive'],
      merge: ['shard'],
      select: ['std', 'background'],
      doctor: [],
    };
    const importsOf = (file: string) =>
      [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)(?!\s+type)[^;]*? from '(\.[^']+)'/gm)].map((m) =>
        path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, '.ts')),
      );
    const missing: string[] = [];
    for (const [command, starts] of Object.entries(entries) as [CommandName, string[]][]) {
      const seen = new Set<string>();
      const queue = starts.map((f) => path.join(SRC, f));
      while (queue.length > 0) {
        const file = queue.pop()!;
        if (seen.has(file)) continue;
        seen.add(file);
        queue.push(...importsOf(file));
      }
      for (const file of [...seen].filter((f) => !f.endsWith('errors.ts'))) {
        const text = readFileSync(file, 'utf8');
        const names = [
          ...[...text.matchAll(/(?:param|invalidParameter)\('(\w+)'/g)].map((m) => m[1]!),
          ...[...text.matchAll(/param\(\{ ([^}]+) \}\)/g)].map((m) => m[1]!),
        ];
        for (const name of names) {
          if (!Object.hasOwn(COMMAND_FLAGS[command], name) && !LIBRARY_ONLY.includes(name) && !neverSet[command].includes(name))
            missing.push(`${command}: ${name} (${path.relative(SRC, file)})`);
        }
      }
    }
    assert.deepEqual([...new Set(missing)], [], 'add each to its command in src/cli/flags.ts, or to LIBRARY_ONLY');
  });
});
