/** Test ELF files built byte by byte. */
/**
 * A minimal ELF64 little-endian file with sections [null, .dynstr, .dynamic] whose dynamic table
 * names `needed` (DT_NEEDED = 1) with one other entry (DT_SONAME = 14) between them, then DT_NULL.
 */
export function elfWith(needed: string[]): Buffer {
  const strings = Buffer.from(`\0${needed.join('\0')}\0libself.so\0`, 'latin1');
  const offsets = needed.map((_, i) => 1 + needed.slice(0, i).reduce((a, n) => a + n.length + 1, 0));
  const soname = strings.length - 'libself.so\0'.length;
  const entries = [...offsets.map((o) => [1, o] as const), [14, soname] as const, [0, 0] as const];
  const dynamic = Buffer.alloc(entries.length * 16);
  entries.forEach(([tag, value], i) => {
    dynamic.writeBigInt64LE(BigInt(tag), i * 16);
    dynamic.writeBigUInt64LE(BigInt(value), i * 16 + 8);
  });
  const stringsAt = 64;
  const dynamicAt = stringsAt + strings.length + ((8 - (strings.length % 8)) % 8);
  const tableAt = dynamicAt + dynamic.length;
  const file = Buffer.alloc(tableAt + 3 * 64);
  file.writeUInt32BE(0x7f454c46, 0);
  file[4] = 2; // 64-bit
  file[5] = 1; // little-endian
  file.writeBigUInt64LE(BigInt(tableAt), 0x28);
  file.writeUInt16LE(64, 0x3a);
  file.writeUInt16LE(3, 0x3c);
  strings.copy(file, stringsAt);
  dynamic.copy(file, dynamicAt);
  const section = (i: number, type: number, offset: number, size: number, link: number) => {
    const at = tableAt + i * 64;
    file.writeUInt32LE(type, at + 4);
    file.writeBigUInt64LE(BigInt(offset), at + 0x18);
    file.writeBigUInt64LE(BigInt(size), at + 0x20);
    file.writeUInt32LE(link, at + 0x28);
  };
  section(1, 3, stringsAt, strings.length, 0);
  section(2, 6, dynamicAt, dynamic.length, 1);
  return file;
}
