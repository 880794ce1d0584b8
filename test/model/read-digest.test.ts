/**
 * readOnnxFile reads a model in chunks and hashes each while the next is read (#38): its bytes and
 * SHA-256 are the file's, whatever the size against the chunk, with external files after them as
 * modelDigest documents; a folder, a missing file and an empty one fail as before.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ModelError } from '../../src/errors.js';
import { readOnnxFile } from '../../src/model/read.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

/** The digest as documented, computed here from whole reads: the file, then each external file's `\0name\0` and bytes, names sorted. */
function documentedDigest(file: string, externals: string[] = []): string {
  const hash = createHash('sha256').update(readFileSync(file));
  for (const name of [...externals].sort()) hash.update(`\0${name}\0`).update(readFileSync(path.join(path.dirname(file), name)));
  return hash.digest('hex');
}

/** A model's bytes grown to exactly `size` with a field the ONNX schema does not have (number 1000), which decoders skip. */
function padded(model: Buffer, size: number): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
    return [...out, n];
  };
  const tag = varint((1000 << 3) | 2);
  // an empty field of 3 bytes first, where the length's own size would jump over `size`
  for (const empty of [[], [...tag, 0]])
    for (let lengthBytes = 1; lengthBytes <= 4; lengthBytes++) {
      const length = size - model.length - empty.length - tag.length - lengthBytes;
      if (length >= 0 && varint(length).length === lengthBytes)
        return Buffer.concat([model, Buffer.from([...empty, ...tag, ...varint(length)]), Buffer.alloc(length, 0x5a)]);
    }
  throw new Error(`cannot pad to ${size}`);
}

describe('readOnnxFile: bytes and SHA-256 from a chunked read', () => {
  it('gives the whole file and its SHA-256 for models of one, two and three 1 MiB chunks', async () => {
    for (const name of [
      'fixtures/models/vgg11_eval_export.onnx',
      'fixtures/models/mobilenet_v2_025.onnx',
      'models/fashion-mnist-mc.onnx',
      'fixtures/models/squeezenet1_1.onnx',
    ]) {
      const file = path.join(ROOT, name);
      const read = await readOnnxFile(file);
      assert.deepEqual(Buffer.from(read.bytes), readFileSync(file), name);
      assert.equal(read.sha256, documentedDigest(file), name);
    }
  });

  it('a model of one chunk less a byte, exactly one chunk, one chunk and a byte, and two chunks: its bytes and SHA-256', async () => {
    const base = readFileSync(path.join(ROOT, 'fixtures/models/vgg11_eval_export.onnx'));
    const folder = tempDir();
    for (const size of [(1 << 20) - 1, 1 << 20, (1 << 20) + 1, 2 << 20]) {
      const file = path.join(folder, `padded-${size}.onnx`);
      writeFileSync(file, padded(base, size));
      const read = await readOnnxFile(file);
      assert.equal(read.bytes.byteLength, size);
      assert.deepEqual(Buffer.from(read.bytes), readFileSync(file), `${size} bytes`);
      assert.equal(read.sha256, documentedDigest(file), `${size} bytes`);
      assert.equal(read.model.nodes().length, (await readOnnxFile(path.join(ROOT, 'fixtures/models/vgg11_eval_export.onnx'))).model.nodes().length);
    }
  });

  it('adds the external data files after the model, as modelDigest documents (a dynamo export with .onnx.data)', async () => {
    const file = path.join(ROOT, 'fixtures/modern/swin_hf.onnx');
    const read = await readOnnxFile(file);
    assert.deepEqual(read.externalFiles, ['swin_hf.onnx.data']);
    assert.equal(read.sha256, documentedDigest(file, read.externalFiles));
    assert.notEqual(read.sha256, documentedDigest(file));
  });

  it('a file whose size the file system does not give (procfs says 0) is read to its end', async () => {
    // /proc/cpuinfo is text: read whole it fails to decode as protobuf; read as 0 bytes it would be an empty model
    await assert.rejects(readOnnxFile('/proc/cpuinfo'), (error: unknown) => {
      assert.ok(error instanceof ModelError);
      assert.match(error.message, /^\/proc\/cpuinfo is not an ONNX model \(/);
      assert.doesNotMatch(error.message, /it has no graph/);
      return true;
    });
  });

  it('a folder, a missing file and an empty file are ModelErrors naming the file', async () => {
    const folder = tempDir();
    const inner = path.join(folder, 'model.onnx');
    mkdirSync(inner);
    await assert.rejects(readOnnxFile(inner), { name: 'ModelError', message: `Cannot read model ${inner}: it is a folder. Pass an .onnx file.` });
    const missing = path.join(folder, 'missing.onnx');
    await assert.rejects(readOnnxFile(missing), { name: 'ModelError', message: `Cannot read model ${missing}: no such file. Pass an .onnx file.` });
    const empty = path.join(folder, 'empty.onnx');
    writeFileSync(empty, '');
    await assert.rejects(readOnnxFile(empty), (error: unknown) => error instanceof ModelError && error.message.startsWith(`${empty} is not an ONNX model`));
  });
});
