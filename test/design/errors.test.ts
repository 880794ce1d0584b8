/** One way to fail (#35): bad arguments through invalidParameter, no bare Error, exit codes from one table. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { EXIT as CLI_EXIT } from '../../src/cli/exit-codes.js';
import { EXIT, InputError, InternalError, ModelError, OutputError, ProviderError, UsageError } from '../../src/errors.js';
import { ROOT } from '../helpers/cli.js';

const SRC = path.join(ROOT, 'src');
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}
const library = files(SRC).filter((f) => !f.startsWith(path.join(SRC, 'cli') + path.sep) && !f.endsWith('errors.ts'));

describe('one way to fail', () => {
  it('a bad argument is a UsageError from invalidParameter, never a hand-written "Expected ... but received"', () => {
    const written: string[] = [];
    for (const file of library) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/new UsageError\(\s*[`'"]Expected\b/.test(line)) written.push(`${path.relative(SRC, file)}:${i + 1}`);
        });
    }
    assert.deepEqual(written, []);
  });

  it('the library throws only its own error classes (a bare Error only where it stands for an errno)', () => {
    const bare: string[] = [];
    for (const file of library) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/throw new (Error|RangeError|TypeError)\(/.test(line)) bare.push(`${path.relative(SRC, file)}:${i + 1}`);
        });
    }
    assert.deepEqual(bare, []);
  });

  it('every error class takes its exit code from the one table, which the CLI reads', () => {
    assert.equal(CLI_EXIT, EXIT);
    assert.equal(new UsageError('x').exitCode, EXIT.usage);
    assert.equal(new ModelError('x').exitCode, EXIT.model);
    assert.equal(new ProviderError('x').exitCode, EXIT.model);
    assert.equal(new OutputError('f', 'full').exitCode, EXIT.output);
    assert.equal(new InputError('f', 'empty file').exitCode, EXIT.partial);
    const internal = new InternalError('a check of our own code failed');
    assert.deepEqual([internal.exitCode, internal.code, internal.name], [70, 'E_INTERNAL', 'InternalError']);
    assert.ok(!/\b(2|3|70|74)\)/.test(readFileSync(path.join(SRC, 'errors.ts'), 'utf8').replace(/EXIT = \{[^}]*\}/, '')));
  });
});
