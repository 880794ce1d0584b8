/** Reads the shared libraries an ELF64 little-endian file links against (its DT_NEEDED entries). */
import { closeSync, openSync, readSync } from 'node:fs';
import { InputError } from '../errors.js';

const SHT_DYNAMIC = 6;
const DT_NEEDED = 1n;

/** The DT_NEEDED names of an ELF64 little-endian shared library or executable; undefined when the file is not one. */
export function neededLibraries(file: string): string[] | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    // only the header, the section table and two sections are read: provider libraries are hundreds of MB
    const read = (position: number, length: number): Buffer => {
      const buffer = Buffer.alloc(length);
      const got = readSync(fd, buffer, 0, length, position);
      if (got !== length) throw new InputError(file, 'short ELF read'); // caught below: a library it cannot read is skipped
      return buffer;
    };
    const header = read(0, 64);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1) return undefined;
    const sectionsAt = Number(header.readBigUInt64LE(0x28));
    const entrySize = header.readUInt16LE(0x3a);
    const count = header.readUInt16LE(0x3c);
    if (sectionsAt === 0 || entrySize < 64 || count === 0) return undefined;
    const table = read(sectionsAt, entrySize * count);
    const section = (i: number) => ({
      type: table.readUInt32LE(i * entrySize + 4),
      offset: Number(table.readBigUInt64LE(i * entrySize + 0x18)),
      size: Number(table.readBigUInt64LE(i * entrySize + 0x20)),
      link: table.readUInt32LE(i * entrySize + 0x28),
    });
    for (let i = 0; i < count; i++) {
      const dynamic = section(i);
      if (dynamic.type !== SHT_DYNAMIC || dynamic.link >= count) continue;
      const strings = section(dynamic.link);
      const names = read(strings.offset, strings.size);
      const entries = read(dynamic.offset, dynamic.size);
      const out: string[] = [];
      for (let at = 0; at + 16 <= entries.length; at += 16) {
        const tag = entries.readBigInt64LE(at);
        if (tag === 0n) break;
        if (tag !== DT_NEEDED) continue;
        const start = Number(entries.readBigUInt64LE(at + 8));
        const end = names.indexOf(0, start);
        out.push(names.toString('latin1', start, end < 0 ? names.length : end));
      }
      return out;
    }
    return [];
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
