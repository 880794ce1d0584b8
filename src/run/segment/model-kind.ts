/** Whether a model file's class-score output is a map (a segmentation model), read from its graph before a run plans its outputs. */
import { readOnnxFileToKeep } from '../../model/read.js';
import { checkClassScores, classifierOutput, outputsReachedFrom } from '../../model/signature.js';
import { findStochasticSites } from '../../model/sites.js';

/** True when `file`'s class-score output (the one named, else the one chosen as a run chooses it) is [N, C, H, W]; false for anything else, which the classifier's run then reports. */
export async function isMapModel(file: string, output: string | undefined): Promise<boolean> {
  try {
    const { model } = await readOnnxFileToKeep(file);
    if (model.outputs().length === 0) return false;
    const reached = outputsReachedFrom(
      model,
      findStochasticSites(model).map((s) => s.output),
    );
    return checkClassScores(classifierOutput(model, file, { reached, ...(output !== undefined && { name: output }) }), file).map !== undefined;
  } catch {
    // the classifier's run reads the file again and says what is wrong with it
    return false;
  }
}
