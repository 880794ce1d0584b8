/**
 * The number of color components a JPEG's first frame stores, from its markers alone: pure, no
 * decoder. libvips reads a 4-component JPEG (Adobe CMYK or YCCK) as CMYK and every other as
 * sRGB or grayscale, so the count answers "is this file CMYK?" without opening it in sharp.
 */

/** Start-of-frame markers (ITU T.81 table B.1): SOF0-3, 5-7, 9-11, 13-15; C4, C8 and CC are not frames. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/**
 * Components (1, 3 or 4) of the first frame of the JPEG whose first bytes are `head`, or undefined
 * when `head` is not a JPEG, ends before the frame header, or holds anything unexpected on the
 * way: the caller then asks the decoder.
 */
export function jpegComponents(head: Uint8Array): number | undefined {
  if (head.length < 4 || head[0] !== 0xff || head[1] !== 0xd8) return undefined;
  let at = 2;
  for (;;) {
    if (at + 4 > head.length || head[at] !== 0xff) return undefined;
    // a marker may be preceded by any number of 0xFF fill bytes (T.81 B.1.1.2)
    while (at + 1 < head.length && head[at + 1] === 0xff) at++;
    if (at + 4 > head.length) return undefined;
    const marker = head[at + 1]!;
    // markers without a length: TEM and the restart markers
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    // another image start, the image's end, its scan data or a stuffed zero before any frame: no frame to read
    if (marker === 0xd8 || marker === 0xd9 || marker === 0xda || marker === 0x00) return undefined;
    const length = (head[at + 2]! << 8) | head[at + 3]!;
    if (length < 2) return undefined;
    if (isStartOfFrame(marker)) {
      // length, precision (1), height (2), width (2), then the component count
      if (length < 8 || at + 10 > head.length) return undefined;
      const components = head[at + 9]!;
      return components === 1 || components === 3 || components === 4 ? components : undefined;
    }
    at += 2 + length;
  }
}
