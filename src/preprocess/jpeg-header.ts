/**
 * What a JPEG's markers say without a decoder, pure: the number of color components its first frame
 * stores (libvips reads a 4-component JPEG, Adobe CMYK or YCCK, as CMYK and every other as sRGB or
 * grayscale, so the count answers "is this file CMYK?" without opening it in sharp), and whether
 * its markers reach the image's end (a file that stops before it is truncated).
 */

/** Start-of-frame markers (ITU T.81 table B.1): SOF0-3, 5-7, 9-11, 13-15; C4, C8 and CC are not frames. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** A marker and where it stands, with its segment's length where it has one; or why there is none: the bytes stop, or they are no marker. */
type Marker = { marker: number; at: number; length?: number } | 'short' | 'broken';

/** Markers that stand alone, without a length: TEM and the restart markers. */
const standsAlone = (marker: number) => marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7);

/**
 * The marker at `at`, after any 0xFF fill bytes before it (T.81 B.1.1.2). Image start and end,
 * scan data's stuffed zero and the markers that stand alone have no length; every other needs one
 * of at least 2 (it counts itself).
 */
function markerAt(bytes: Uint8Array, at: number): Marker {
  if (at >= bytes.length) return 'short';
  if (bytes[at] !== 0xff) return 'broken';
  while (at + 1 < bytes.length && bytes[at + 1] === 0xff) at++;
  if (at + 2 > bytes.length) return 'short';
  const marker = bytes[at + 1]!;
  if (standsAlone(marker) || marker === 0xd8 || marker === 0xd9 || marker === 0x00) return { marker, at };
  if (at + 4 > bytes.length) return 'short';
  const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
  return length < 2 ? 'broken' : { marker, at, length };
}

/**
 * Components (1, 3 or 4) of the first frame of the JPEG whose first bytes are `head`, or undefined
 * when `head` is not a JPEG, ends before the frame header, or holds anything unexpected on the
 * way: the caller then asks the decoder.
 */
export function jpegComponents(head: Uint8Array): number | undefined {
  if (head.length < 4 || head[0] !== 0xff || head[1] !== 0xd8) return undefined;
  for (let at = 2; ;) {
    const found = markerAt(head, at);
    if (typeof found === 'string') return undefined;
    const { marker, length } = found;
    if (standsAlone(marker)) {
      at = found.at + 2;
      continue;
    }
    // another image start, the image's end, its scan data or a stuffed zero before any frame: no frame to read
    if (length === undefined || marker === 0xda) return undefined;
    if (isStartOfFrame(marker)) {
      // length, precision (1), height (2), width (2), then the component count
      if (length < 8 || found.at + 10 > head.length) return undefined;
      const components = head[found.at + 9]!;
      return components === 1 || components === 3 || components === 4 ? components : undefined;
    }
    at = found.at + 2 + length;
  }
}

/**
 * Whether the JPEG `bytes` reaches its end-of-image marker, walking its segments by their lengths
 * and each scan's entropy-coded data to the next marker: true where it does (whatever follows it),
 * false where the bytes stop first (a truncated file), undefined where it is not a JPEG or its
 * markers are broken on the way. Walking, not looking at the last two bytes, tells a file with
 * bytes after its end (padding, appended data) from one that stops early; and an EXIF thumbnail's
 * own end marker, inside a segment, is skipped with it.
 */
export function jpegEnds(bytes: Uint8Array): boolean | undefined {
  if (bytes.length < 2 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  for (let at = 2; ;) {
    const found = markerAt(bytes, at);
    if (found === 'short') return false;
    if (found === 'broken') return undefined;
    const { marker, length } = found;
    if (marker === 0xd9) return true;
    if (standsAlone(marker)) {
      at = found.at + 2;
      continue;
    }
    if (length === undefined) return undefined; // another image start, or a stuffed zero outside a scan
    at = found.at + 2 + length;
    if (at > bytes.length) return false;
    if (marker !== 0xda) continue;
    // entropy-coded data: 0xFF is followed by a stuffed zero or a restart marker until the next marker
    for (;;) {
      const ff = bytes.indexOf(0xff, at);
      if (ff < 0 || ff + 1 >= bytes.length) return false;
      const next = bytes[ff + 1]!;
      if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) {
        at = next === 0xff ? ff + 1 : ff + 2;
        continue;
      }
      at = ff;
      break;
    }
  }
}
