/**
 * The ONNX codec written out by src/model/schema/generate.mjs decodes and encodes exactly as
 * protobufjs' reflection does on the same schema: the same fields (own fields, defaults, oneofs)
 * and the same bytes and errors, on every model the project carries, damaged copies and hand-made
 * edge cases; and the committed files are what the generator writes with the protobufjs that
 * package.json pins. (The messages lack reflection's Message base class, its $type and toJSON:
 * nothing in the project reads them.)
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type * as Protobuf from 'protobufjs';
import { decodeModel, encodeModel } from '../../src/model/onnx.js';
import { ONNX_DESCRIPTOR } from '../../src/model/schema/onnx-schema.js';
import { ROOT } from '../helpers/cli.js';

const protobuf = createRequire(import.meta.url)('protobufjs') as typeof Protobuf;
const reflected = protobuf.Root.fromJSON(ONNX_DESCRIPTOR).lookupType('onnx.ModelProto');

/** Every .onnx file under the project's fixtures and models. */
function carriedModels(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    // links are not followed (fixtures/odd holds a loop of them)
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.isFile() && entry.name.endsWith('.onnx')) out.push(file);
    }
  };
  walk(path.join(ROOT, 'fixtures'));
  walk(path.join(ROOT, 'models'));
  return out;
}

/**
 * Asserts that two decoded messages are the same: the same own keys (a field decoded, an empty
 * repeated field, $unknowns), equal values, and equal values read through the prototype for every
 * field and oneof of the message's type (the defaults a reader sees for a field not in the file).
 */
function assertSameMessage(ours: unknown, theirs: unknown, type: Protobuf.Type, where: string): void {
  const a = ours as Record<string, unknown>;
  const b = theirs as Record<string, unknown>;
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${where}: own fields`);
  for (const oneof of type.oneofsArray) assert.equal(a[oneof.name], b[oneof.name], `${where}.${oneof.name} (oneof)`);
  for (const field of type.fieldsArray) {
    field.resolve();
    const [x, y] = [a[field.name], b[field.name]];
    const here = `${where}.${field.name}`;
    if (field.resolvedType instanceof protobuf.Type) {
      const sub = field.resolvedType;
      if (field.repeated) {
        assert.equal((x as unknown[]).length, (y as unknown[]).length, `${here}: count`);
        (x as unknown[]).forEach((item, i) => assertSameMessage(item, (y as unknown[])[i], sub, `${here}[${i}]`));
      } else if (x === null || y === null) assert.equal(x, y, here);
      else assertSameMessage(x, y, sub, here);
    } else assertSameValue(x, y, here);
  }
  if ('$unknowns' in b) assertSameValue(a.$unknowns, b.$unknowns, `${where}.$unknowns`);
}

function assertSameValue(x: unknown, y: unknown, where: string): void {
  if (Array.isArray(y)) {
    assert.ok(Array.isArray(x), `${where}: an array`);
    assert.equal(x.length, y.length, `${where}: length`);
    y.forEach((item, i) => assertSameValue((x as unknown[])[i], item, `${where}[${i}]`));
  } else if (y instanceof Uint8Array) {
    assert.ok(x instanceof Uint8Array, `${where}: bytes`);
    assert.ok(Buffer.from(x).equals(Buffer.from(y)), `${where}: the same bytes`);
  } else if (y instanceof protobuf.util.Long) {
    const [p, q] = [x as Protobuf.Long, y];
    assert.deepEqual([p.low, p.high, p.unsigned], [q.low, q.high, q.unsigned], `${where}: int64`);
  } else assert.equal(x, y, where);
}

describe('the generated ONNX codec (schema/onnx-codec.ts)', () => {
  const models = carriedModels();

  it('finds the carried models to compare on', () => {
    assert.ok(models.length >= 20, `${models.length} models`);
  });

  it('decodes every carried model as protobufjs reflection does, and encodes it to the same bytes', () => {
    for (const file of models) {
      const bytes = readFileSync(file);
      const name = path.relative(ROOT, file);
      const ours = decodeModel(bytes);
      const theirs = reflected.decode(bytes);
      assertSameMessage(ours, theirs, reflected, name);
      const encoded = Buffer.from(encodeModel(ours));
      assert.ok(encoded.equals(Buffer.from(reflected.encode(theirs).finish())), `${name}: the same bytes as reflection's encode`);
      // and plain objects (what the rewrites build) encode alike
      assert.ok(Buffer.from(encodeModel({ ...ours })).equals(Buffer.from(reflected.encode({ ...theirs }).finish())), `${name}: a plain copy`);
    }
  });

  it('drops fields and enum values the schema does not know, as reflection does (protobufjs discards them by default)', () => {
    // ModelProto field 99 (varint 7), then ir_version 9
    const bytes = Uint8Array.from([0x98, 0x06, 0x07, 0x08, 0x09]);
    const ours = decodeModel(bytes);
    assertSameMessage(ours, reflected.decode(bytes), reflected, 'unknown field');
    assert.equal(Number(ours.irVersion), 9);
    assert.deepEqual(Array.from(encodeModel(ours)), [0x08, 0x09]);
    // an attribute type 99 (no such AttributeType) in a node of the graph: dropped by both, the name kept
    const attribute = [0x0a, 0x01, 0x61, 0xa0, 0x01, 0x63];
    const node = [0x2a, attribute.length, ...attribute];
    const graph = Uint8Array.from([0x3a, node.length + 2, 0x0a, node.length, ...node]);
    const decoded = decodeModel(graph);
    assertSameMessage(decoded, reflected.decode(graph), reflected, 'unknown enum value');
    assert.equal(decoded.graph!.node![0]!.attribute![0]!.name, 'a');
    assert.equal(decoded.graph!.node![0]!.attribute![0]!.type, 0);
  });

  it('refuses what reflection refuses: a truncated message, a wrong wire type, nesting past the recursion limit', () => {
    const cases: [string, Uint8Array][] = [
      ['truncated', Uint8Array.from([0x3a, 0x05, 0x0a])],
      ['bad wire type', Uint8Array.from([0x0f])],
      // graph -> node -> attribute -> graph ... 120 levels deep
      ['too deep', nested(120)],
    ];
    for (const [what, bytes] of cases) {
      let theirs: unknown;
      try {
        reflected.decode(bytes);
      } catch (error) {
        theirs = error;
      }
      assert.ok(theirs instanceof Error, `${what}: reflection refuses it`);
      assert.throws(() => decodeModel(bytes), { message: theirs.message }, what);
    }
  });

  it('agrees with reflection on 400 damaged copies of a real model: the same message or the same error', () => {
    // seeded byte flips, truncations and insertions into an exported model (protobuf parsing is where
    // hand-written and generated decoders part ways: wire types, lengths, nesting)
    const original = readFileSync(path.join(ROOT, 'fixtures/paddle/paddle_head.onnx'));
    const random = xorshift(38);
    let agreedErrors = 0;
    for (let k = 0; k < 400; k++) {
      const bytes = damaged(original, random);
      let theirs: unknown;
      let failure: Error | undefined;
      try {
        theirs = reflected.decode(bytes);
      } catch (error) {
        failure = error as Error;
      }
      if (failure) {
        assert.throws(() => decodeModel(bytes), { message: failure.message }, `copy ${k}`);
        agreedErrors++;
      } else {
        const ours = decodeModel(bytes);
        assertSameMessage(ours, theirs, reflected, `copy ${k}`);
        assert.ok(Buffer.from(encodeModel(ours)).equals(Buffer.from(reflected.encode(theirs as object).finish())), `copy ${k}: the same bytes`);
      }
    }
    // both outcomes were exercised
    assert.ok(agreedErrors > 40 && agreedErrors < 360, `${agreedErrors} of 400 refused`);
  });

  it('runs on the protobufjs it was generated by: package.json pins that exact version', () => {
    // the generated code calls protobufjs' internals (Reader#tag, skipType, util.makeProp), which a later release may change
    const generatedBy = /with protobufjs (\S+)'s own code generator/.exec(readFileSync(path.join(ROOT, 'src/model/schema/onnx-codec.ts'), 'utf8'))?.[1];
    const pinned = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies.protobufjs;
    const installed = (JSON.parse(readFileSync(path.join(ROOT, 'node_modules/protobufjs/package.json'), 'utf8')) as { version: string }).version;
    assert.equal(pinned, generatedBy);
    assert.equal(installed, generatedBy);
  });

  it('is what generate.mjs writes with the installed protobufjs', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'onnx-codec-'));
    execFileSync(process.execPath, [path.join(ROOT, 'src/model/schema/generate.mjs')], { env: { ...process.env, ONNX_SCHEMA_OUT: out } });
    for (const name of ['onnx-schema.ts', 'onnx-codec.ts'])
      assert.equal(readFileSync(path.join(out, name), 'utf8'), readFileSync(path.join(ROOT, 'src/model/schema', name), 'utf8'), `${name} is up to date`);
  });
});

/** A ModelProto whose graph nests `depth` graphs through node attributes (field numbers of onnx.proto). */
function nested(depth: number): Uint8Array {
  // GraphProto { node (1): NodeProto { attribute (5): AttributeProto { g (6): GraphProto { ... } } } }
  let graph: number[] = [];
  for (let d = 0; d < depth; d++) {
    const attribute = [0x32, ...varint(graph.length), ...graph];
    const node = [0x2a, ...varint(attribute.length), ...attribute];
    graph = [0x0a, ...varint(node.length), ...node];
  }
  return Uint8Array.from([0x3a, ...varint(graph.length), ...graph]);
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** xorshift32: a seeded stream of numbers in [0, 1). */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/** A copy of `bytes` with one to four damages: a byte changed, the end cut off, or a byte inserted. */
function damaged(bytes: Uint8Array, random: () => number): Uint8Array {
  let out = Uint8Array.from(bytes);
  for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
    const at = Math.floor(random() * out.length);
    const kind = random();
    if (kind < 0.6) out[at] = Math.floor(random() * 256);
    else if (kind < 0.8) out = out.subarray(0, at);
    else out = Uint8Array.from([...out.subarray(0, at), Math.floor(random() * 256), ...out.subarray(at)]);
  }
  return out;
}
