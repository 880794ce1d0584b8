/** Colours of class-index maps: PASCAL VOC's colour map (class 0 black, 1 dark red, 2 dark green, ...), and overlays. */

/** VOC's colour map for `count` classes (at most 256): RGB triples, the bits of each index spread over the channels' high bits. */
export function vocPalette(count: number): Uint8Array {
  const palette = new Uint8Array(count * 3);
  for (let i = 0; i < count; i++) {
    let [r, g, b] = [0, 0, 0];
    for (let j = 0, c = i; j < 8; j++, c >>= 3) {
      r |= (c & 1) << (7 - j);
      g |= ((c >> 1) & 1) << (7 - j);
      b |= ((c >> 2) & 1) << (7 - j);
    }
    palette.set([r, g, b], i * 3);
  }
  return palette;
}

/** The image with each pixel's class colour blended in at `alpha` (0: the image, 1: the colours): RGB [H, W, 3]. */
export function overlay(rgb: Uint8Array, label: Uint16Array, palette: Uint8Array, alpha = 0.5): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let p = 0; p < label.length; p++) {
    const colour = label[p]! * 3;
    for (let k = 0; k < 3; k++) out[p * 3 + k] = Math.round((1 - alpha) * rgb[p * 3 + k]! + alpha * palette[colour + k]!);
  }
  return out;
}
