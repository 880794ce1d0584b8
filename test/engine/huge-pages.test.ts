import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diagnoseHugePages, HUGE_PAGES_FIX } from '../../src/engine/huge-pages.js';

describe('huge pages for large buffers', () => {
  it('are off on glibc 2.35+ with THP on madvise until GLIBC_TUNABLES asks for them, and the fix says how', () => {
    assert.deepEqual(diagnoseHugePages({ glibc: '2.36', thp: 'madvise' }), {
      state: 'off',
      explanation: 'large buffers sit on 4 KiB pages: one page fault per 4 KiB of every decoded photo',
      fix: HUGE_PAGES_FIX,
    });
    assert.match(HUGE_PAGES_FIX, /^export GLIBC_TUNABLES=glibc\.malloc\.hugetlb=1 /);
    assert.equal(diagnoseHugePages({ glibc: '2.36', thp: 'madvise', tunables: 'glibc.malloc.hugetlb=1' }).state, 'on');
    assert.equal(diagnoseHugePages({ glibc: '2.41', thp: 'madvise', tunables: 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2' }).state, 'on');
    // the last setting wins, as glibc reads them
    assert.equal(diagnoseHugePages({ glibc: '2.36', thp: 'madvise', tunables: 'glibc.malloc.hugetlb=1:glibc.malloc.hugetlb=0' }).state, 'off');
    assert.equal(diagnoseHugePages({ glibc: '2.36', thp: 'madvise', tunables: 'glibc.malloc.arena_max=2' }).state, 'off');
  });

  it('are on whatever the tunables with THP always, and unavailable without glibc 2.35 or THP', () => {
    assert.equal(diagnoseHugePages({ glibc: '2.36', thp: 'always' }).state, 'on');
    assert.deepEqual(diagnoseHugePages({ glibc: '2.31', thp: 'madvise' }), {
      state: 'unavailable',
      explanation: 'glibc 2.31 has no malloc.hugetlb tunable (2.35 or later has)',
    });
    assert.deepEqual(diagnoseHugePages({ glibc: '2.36', thp: 'never', tunables: 'glibc.malloc.hugetlb=1' }), {
      state: 'unavailable',
      explanation: "the kernel's transparent huge pages are never",
    });
    assert.deepEqual(diagnoseHugePages({}), { state: 'unavailable', explanation: 'not a glibc system' });
    assert.equal(diagnoseHugePages({ glibc: '3.0', thp: 'madvise', tunables: 'glibc.malloc.hugetlb=1' }).state, 'on');
  });
});
