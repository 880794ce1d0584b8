/**
 * Graph types stay in the model layer (docs/design.md): outside src/model no file imports the
 * protobuf library, the module that wraps it (model/onnx.ts), its generated schema, or the model
 * layer's doors to the messages behind an OnnxGraph (graphOf, protoOf), and none names a protobuf
 * message type. Swapping the protobuf library then touches src/model only.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers/cli.js';

const SRC = path.join(ROOT, 'src');
const MODEL = path.join(SRC, 'model') + path.sep;
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}
const outside = files(SRC).filter((file) => !file.startsWith(MODEL));

/** The messages protobufjs decodes an ONNX file into (src/model/schema/onnx-schema.ts). */
const PROTO_TYPE = /\b\w+Proto\b/g;
/** Each import or re-export statement: what it binds and where from. */
const IMPORT = /^(?:import|export)\s([^;]*?)\sfrom\s'([^']+)'/gms;

/** Why an import of `from` with bindings `what`, in `file`, reaches past the model layer's face (undefined if it does not). */
function breach(file: string, what: string, from: string): string | undefined {
  if (from === 'protobufjs' || from.startsWith('protobufjs/')) return 'imports protobufjs';
  if (!from.startsWith('.')) return undefined;
  const target = path.resolve(path.dirname(file), from);
  if (!target.startsWith(MODEL)) return undefined;
  const inModel = path.relative(MODEL, target);
  if (inModel === 'onnx.js' || inModel.startsWith(`schema${path.sep}`)) return `imports model/${inModel.split(path.sep).join('/')}`;
  const doors = what.match(/\b(graphOf|protoOf)\b/g);
  return doors ? `imports ${doors.join(', ')} from model/${inModel}` : undefined;
}

describe('graph types stay in the model layer (docs/design.md)', () => {
  it('outside src/model, nothing imports protobufjs, model/onnx.ts, the schema, graphOf or protoOf', () => {
    const found: string[] = [];
    for (const file of outside) {
      for (const [, what, from] of readFileSync(file, 'utf8').matchAll(IMPORT)) {
        const why = breach(file, what!, from!);
        if (why) found.push(`${path.relative(SRC, file)} ${why}`);
      }
    }
    assert.deepEqual(found, []);
  });

  it('outside src/model, no file names a protobuf message type (ModelProto, NodeProto, TensorProto, ...)', () => {
    const found: string[] = [];
    for (const file of outside) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          for (const [name] of line.matchAll(PROTO_TYPE)) found.push(`${path.relative(SRC, file)}:${i + 1} ${name}`);
        });
    }
    assert.deepEqual(found, []);
  });

  it('the scan catches what it looks for (a pattern that matched nothing would pass the tests above)', () => {
    const engine = path.join(SRC, 'engine', 'plan.ts');
    assert.match(breach(engine, '{ DataType }', '../model/onnx.js') ?? '', /model\/onnx\.js/);
    assert.match(breach(engine, '{ type ModelProto }', '../model/schema/onnx-schema.js') ?? '', /schema/);
    assert.match(breach(engine, 'protobuf', 'protobufjs') ?? '', /protobufjs/);
    assert.match(breach(engine, '{ protoOf, type OnnxGraph }', '../model/graph.js') ?? '', /protoOf from model\/graph\.js/);
    assert.equal(breach(engine, '{ type OnnxGraph, type TensorInfo }', '../model/graph.js'), undefined);
    assert.deepEqual(
      [...'planGraph(model: ModelProto, node: NodeProto)'.matchAll(PROTO_TYPE)].map((m) => m[0]),
      ['ModelProto', 'NodeProto'],
    );
  });
});
