/**
 * File names that are not valid UTF-8 (Linux allows any bytes but / and NUL). Inside mc-dropout a
 * name is a string; a byte that is not part of valid UTF-8 is kept as the lone surrogate
 * U+DC00 + byte (U+DC80..U+DCFF), as Python's os.fsdecode does (PEP 383, "surrogateescape").
 * Valid UTF-8 never decodes to a lone surrogate, so the mapping is exact both ways. Pure.
 */

/** Byte b (0x80..0xFF) that is not part of valid UTF-8 is kept as U+DC00 + b, in U+DC80..U+DCFF. */
const RAW_BASE = 0xdc00;
const RAW_LOW = 0xdc80;

/** Decodes file-name bytes: valid UTF-8 as text, every other byte as U+DC00 + byte. */
export function nameFromBytes(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    const length = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    let code = length === 1 ? b : length === 2 ? b & 0x1f : length === 3 ? b & 0x0f : b & 0x07;
    let valid = length > 0 && i + length <= bytes.length;
    for (let k = 1; valid && k < length; k++) {
      const c = bytes[i + k]!;
      if ((c & 0xc0) !== 0x80) valid = false;
      code = (code << 6) | (c & 0x3f);
    }
    // overlong forms, UTF-16 surrogates and code points past U+10FFFF are not valid UTF-8
    const least = [0, 0, 0x80, 0x800, 0x10000][length] ?? 0;
    if (valid && (code < least || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff)) valid = false;
    if (!valid) {
      out += String.fromCharCode(RAW_BASE + b);
      i += 1;
    } else {
      out += String.fromCodePoint(code);
      i += length;
    }
  }
  return out;
}

/** Whether a name holds bytes that are not valid UTF-8 (kept as U+DC80..U+DCFF). */
export function hasRawBytes(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= RAW_LOW && c <= 0xdcff && !(i > 0 && isHigh(name.charCodeAt(i - 1)))) return true;
  }
  return false;
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;

/** The bytes of a name: the inverse of nameFromBytes. */
export function bytesOfName(name: string): Buffer {
  const parts: number[] = [];
  for (const ch of name) {
    const code = ch.codePointAt(0)!;
    if (code >= RAW_LOW && code <= 0xdcff) parts.push(code - RAW_BASE);
    else parts.push(...Buffer.from(ch, 'utf8'));
  }
  return Buffer.from(parts);
}

/** What to hand node:fs for a name: the string itself, or its bytes when it holds raw ones. */
export function fsPath(name: string): string | Buffer {
  return hasRawBytes(name) ? bytesOfName(name) : name;
}

/**
 * A name as a CSV cell, which must be UTF-8 text: unchanged when it is valid UTF-8; else each raw
 * byte as \xHH and each backslash doubled (JSONL keeps the exact form, see docs/predict.md).
 */
export function csvName(name: string): string {
  if (!hasRawBytes(name)) return name;
  let out = '';
  for (const ch of name) {
    const code = ch.codePointAt(0)!;
    out += code >= RAW_LOW && code <= 0xdcff ? `\\x${(code - RAW_BASE).toString(16).padStart(2, '0')}` : ch === '\\' ? '\\\\' : ch;
  }
  return out;
}

/**
 * Two of `names` that a CSV would write as the same cell, or undefined: a name with raw bytes
 * (written with \xHH escapes) and a valid one spelled like that escape. Names that are valid
 * UTF-8 are written as they are, so only a name with raw bytes can meet another.
 */
export function csvNameClash(names: readonly string[]): [string, string] | undefined {
  const escaped = new Map<string, string>();
  for (const name of names) if (hasRawBytes(name)) escaped.set(csvName(name), name);
  if (escaped.size === 0) return undefined;
  for (const name of names) {
    const other = hasRawBytes(name) ? undefined : escaped.get(name);
    if (other !== undefined) return [other, name];
  }
  return undefined;
}
