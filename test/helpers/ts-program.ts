/** The TypeScript compiler over src/, as the design tests read it (the project's module settings, nothing emitted). */
import ts from 'typescript';

export function sourceProgram(files: readonly string[]): ts.Program {
  return ts.createProgram([...files], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  });
}
