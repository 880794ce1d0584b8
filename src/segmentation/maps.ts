/** One image's per-pixel statistics over its passes, at map size height x width; pixel p = y * width + x. */
export interface PixelMaps {
  width: number;
  height: number;
  classes: number;
  passes: number;
  /** Mean probability of each class: [classes, height, width], class-major planes. */
  meanProbs: Float32Array;
  /** Argmax of meanProbs per pixel (lowest class on ties). */
  label: Uint16Array;
  /** max_c meanProbs per pixel. */
  confidence: Float32Array;
  /** Predictive entropy H(mean p) per pixel, nats. */
  entropy: Float32Array;
  /** Mutual information H(mean p) - mean_t H(p_t) per pixel, nats, clamped at >= 0. */
  mutualInformation: Float32Array;
}
