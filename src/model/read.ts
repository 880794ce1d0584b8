import { readFile } from 'node:fs/promises';
import { describeError, ModelError } from '../errors.js';
import { decodeModel, type ModelProto } from './onnx.js';

/** Reads and decodes an ONNX file; every failure is a ModelError naming the file and the fix. */
export async function readOnnxFile(file: string): Promise<{ bytes: Uint8Array; model: ModelProto }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : describeError(error);
    throw new ModelError(`Cannot read model ${file}: ${reason}. Pass an .onnx file.`, 'E_MODEL', { cause: error });
  }
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (error) {
    throw new ModelError(`${file} is not an ONNX model (${describeError(error)})`, 'E_MODEL', { cause: error });
  }
  if (!model.graph || (model.graph.node ?? []).length === 0) throw new ModelError(`${file} is not an ONNX model (it has no graph)`);
  return { bytes, model };
}
