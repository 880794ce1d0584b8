import { realpathSync, statSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { open, type FileReadResult } from 'node:fs/promises';
import { notRegularFile } from '../io/read-file.js';
import path from 'node:path';
import { describeError, invalidParameter, ModelError } from '../errors.js';
import { checkExternalFiles, externalBytes, externalLocations, finishModelDigest, modelDigest, referenceEmbeddedWeights } from './external.js';
import { graphOf, protoOf, type OnnxGraph } from './graph.js';
import { decodeModel, type ModelProto } from './onnx.js';

/** A decoded model file with what it takes to open it anywhere: its folder and external files. */
export interface OnnxFile {
  /** The path it was read from, as given. */
  file: string;
  /** The .onnx file's bytes. */
  bytes: Uint8Array;
  /** The decoded model. */
  model: OnnxGraph;
  /** Absolute folder of the model file: external weights resolve against it, whatever the working directory ('' for bytes with none). */
  folder: string;
  /** External weight files, relative to `folder`, sorted; empty when every weight is in the file. */
  externalFiles: string[];
  /** Bytes of the model file and its external files together. */
  sizeBytes: number;
  /** SHA-256 of the model file and every external file (see modelDigest). */
  sha256: string;
  /** Set when the model came as bytes (readOnnxBytes), not from the file named `file`: its weights cannot be referenced in a file. */
  inMemory?: true;
}

/** A file read to be read again at once (readOnnxFileToKeep): handed over to the next read of the same unchanged file, once. */
let kept: { key: string; read: OnnxFile } | undefined;

/** What identifies a file's content for the handover: its real path, inode, size and modification time. */
function fileKey(file: string): string | undefined {
  try {
    const info = statSync(file);
    return `${realpathSync(file)}\0${info.ino}\0${info.size}\0${info.mtimeMs}`;
  } catch {
    return undefined;
  }
}

/**
 * readOnnxFile, keeping the result for the next readOnnxFile of the same unchanged file: a look at a
 * model before its run (is it a segmentation model?) then costs no second read and decode. The
 * caller must not change the graph it gets.
 */
export async function readOnnxFileToKeep(file: string): Promise<OnnxFile> {
  const read = await readOnnxFile(file);
  const key = fileKey(file);
  kept = key === undefined ? undefined : { key, read };
  return read;
}

/** Reads and decodes an ONNX file; every failure is a ModelError naming the file and the fix. */
export async function readOnnxFile(file: string): Promise<OnnxFile> {
  if (kept) {
    const handed = kept.key === fileKey(file) ? kept.read : undefined;
    kept = undefined;
    if (handed) return handed;
  }
  let read: { bytes: Uint8Array; hash: Hash };
  const kind = notRegularFile(file);
  if (kind && kind !== 'a folder') throw new ModelError(`Cannot read model ${file}: it is ${kind}, not a regular file. Pass an .onnx file.`);
  try {
    read = await readHashing(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : describeError(error);
    throw new ModelError(`Cannot read model ${file}: ${reason}. Pass an .onnx file.`, 'E_MODEL', { cause: error });
  }
  // a link's target's folder: external weights (and the file itself, for a session) lie beside the target
  return decoded(read.bytes, file, path.dirname(realpathSync(file)), read.hash);
}

/** A chunk of readHashing: big enough for few reads, small enough that hashing one overlaps reading the next. */
const READ_CHUNK = 1 << 20;

/**
 * A file's bytes, with a SHA-256 that has taken them in: each chunk is hashed on this thread while
 * the next one is read on libuv's, so the digest costs little beyond the read (#38;
 * docs/performance.md has the measurements). Throws what the read throws.
 */
async function readHashing(file: string): Promise<{ bytes: Uint8Array; hash: Hash }> {
  const handle = await open(file, 'r');
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read`), { code: 'EISDIR' });
    if (info.size === 0) {
      // a size the file system does not give (procfs, some FUSE mounts): read to the end, as readFile does
      const whole = await handle.readFile();
      return { bytes: whole, hash: createHash('sha256').update(whole) };
    }
    const bytes = Buffer.allocUnsafe(info.size);
    const hash = createHash('sha256');
    let end = 0;
    let next: Promise<FileReadResult<Buffer>> | undefined = handle.read(bytes, 0, Math.min(READ_CHUNK, info.size), 0);
    while (next) {
      const { bytesRead }: FileReadResult<Buffer> = await next;
      const start = end;
      end += bytesRead;
      // a file that shrank while read ends where its bytes end
      next = bytesRead > 0 && end < info.size ? handle.read(bytes, end, Math.min(READ_CHUNK, info.size - end), end) : undefined;
      hash.update(bytes.subarray(start, end));
    }
    return { bytes: bytes.subarray(0, end), hash };
  } finally {
    await handle.close();
  }
}

/**
 * Decodes a model given as bytes, as onnxruntime's `InferenceSession.create(buffer)` takes it.
 * `name` stands for the file in messages. External weights resolve against `folder`; without one,
 * a model that keeps weights in external files is refused (bytes cannot carry them).
 */
export function readOnnxBytes(bytes: Uint8Array, options: { name?: string; folder?: string } = {}): OnnxFile {
  const name = options.name ?? 'the model bytes';
  if (!(bytes instanceof Uint8Array)) throw invalidParameter('bytes', "the model's bytes as a Uint8Array", typeof bytes);
  return { ...decoded(bytes, name, options.folder === undefined ? undefined : path.resolve(options.folder)), inMemory: true };
}

/** The file's OnnxFile; `hash`, where given, has taken in `bytes` already (readHashing). */
function decoded(bytes: Uint8Array, file: string, folder: string | undefined, hash?: Hash): OnnxFile {
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (error) {
    throw new ModelError(`${file} is not an ONNX model (${describeError(error)})`, 'E_MODEL', { cause: error });
  }
  if (!model.graph || (model.graph.node ?? []).length === 0) throw new ModelError(`${file} is not an ONNX model (it has no graph)`);
  const externalFiles = externalLocations(model);
  if (folder === undefined) {
    if (externalFiles.length > 0)
      throw new ModelError(
        `${file}: the model keeps its weights in external files (${externalFiles.join(', ')}), which bytes cannot carry; load it from its file path instead, with the weights beside it`,
      );
    return { file, bytes, model: graphOf(model), folder: '', externalFiles, sizeBytes: bytes.byteLength, sha256: modelDigest(bytes, '', []) };
  }
  checkExternalFiles(externalFiles, folder, file);
  return {
    file,
    bytes,
    model: graphOf(model),
    folder,
    externalFiles,
    sizeBytes: bytes.byteLength + externalBytes(folder, externalFiles),
    sha256: hash ? finishModelDigest(hash, folder, externalFiles) : modelDigest(bytes, folder, externalFiles),
  };
}

/**
 * readOnnxFile for opening a session: large embedded weights become references into the model
 * file itself and the file's bytes are dropped, so mc-dropout holds no copy of the weights while
 * onnxruntime loads them.
 */
export async function readModelForSession(file: string): Promise<Omit<OnnxFile, 'bytes'>> {
  return forSession(await readOnnxFile(file));
}

/** A file read already, made ready for a session as readModelForSession does (its model is not changed). */
export function forSession(read: OnnxFile): Omit<OnnxFile, 'bytes'> {
  const { bytes, model, ...rest } = read;
  return { ...rest, model: graphOf(referenceEmbeddedWeights(protoOf(model), bytes, path.basename(realpathSync(read.file)))) };
}
