#!/usr/bin/env node
// Copies a CUDA shared library keeping the machine code of one GPU architecture only: the payloads
// of the other entries in its .nv_fatbin section are zeroed, every header and offset stays, so the
// file still loads and compresses to a fraction (the CUDA 13 provider: 230 MB, 165 MB -> 38 MB
// compressed with sm_90 kept). Used to carry the provider to a machine with no registry.
//   node scripts/fatbin-keep.mjs IN OUT SM     (SM: 90 for Hopper)
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output, smText] = process.argv.slice(2);
const keep = Number(smText);
if (!input || !output || !Number.isInteger(keep)) {
  process.stderr.write('usage: fatbin-keep.mjs IN OUT SM\n');
  process.exit(2);
}
const data = readFileSync(input);
const shoff = Number(data.readBigUInt64LE(0x28));
const shentsize = data.readUInt16LE(0x3a);
const shnum = data.readUInt16LE(0x3c);
const shstrndx = data.readUInt16LE(0x3e);
const section = (i) => {
  const at = shoff + i * shentsize;
  return { name: data.readUInt32LE(at), offset: Number(data.readBigUInt64LE(at + 0x18)), size: Number(data.readBigUInt64LE(at + 0x20)) };
};
const names = section(shstrndx);
const nameOf = (s) => data.toString('latin1', names.offset + s.name, data.indexOf(0, names.offset + s.name));
const fatbin = Array.from({ length: shnum }, (_, i) => section(i)).find((s) => nameOf(s) === '.nv_fatbin');
if (!fatbin) {
  process.stderr.write(`${input}: no .nv_fatbin section\n`);
  process.exit(1);
}
const kept = new Map();
let zeroed = 0;
for (let at = fatbin.offset; at + 16 <= fatbin.offset + fatbin.size;) {
  if (data.readUInt32LE(at) !== 0xba55ed50) {
    at += 8;
    continue;
  }
  const headerSize = data.readUInt16LE(at + 6);
  const end = at + headerSize + Number(data.readBigUInt64LE(at + 8));
  for (let entry = at + headerSize; entry < end;) {
    const entryHeader = data.readUInt32LE(entry + 4);
    const payload = Number(data.readBigUInt64LE(entry + 8));
    const arch = data.readUInt32LE(entry + 28);
    if (arch === keep) kept.set(arch, (kept.get(arch) ?? 0) + payload);
    else {
      data.fill(0, entry + entryHeader, entry + entryHeader + payload);
      zeroed += payload;
    }
    entry += entryHeader + payload;
  }
  at = end;
}
if (!kept.has(keep)) {
  process.stderr.write(`${input}: no machine code for sm_${keep}\n`);
  process.exit(1);
}
writeFileSync(output, data, { mode: 0o755 });
process.stdout.write(
  `${output}: kept ${(kept.get(keep) / 2 ** 20).toFixed(1)} MiB of sm_${keep}, zeroed ${(zeroed / 2 ** 20).toFixed(1)} MiB of other architectures\n`,
);
