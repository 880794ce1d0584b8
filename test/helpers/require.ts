/**
 * Tests that need something this machine may lack (Slurm, Chromium, a mountable tmpfs) skip each
 * test, counted and with the reason printed, unless MC_DROPOUT_REQUIRE names the need (CI sets
 * `MC_DROPOUT_REQUIRE=slurm,chromium,tmpfs`): then the missing piece fails the file, so a run can
 * never pass with fewer tests than it claims. Tests never install anything; .ci/run does.
 */
const required = new Set(
  (process.env.MC_DROPOUT_REQUIRE ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/** The `skip` option for a test that needs `need`: false when `missing` is undefined, else the reason. */
export function skipUnless(need: string, missing: string | undefined): string | false {
  if (missing === undefined) return false;
  if (required.has(need) || required.has('all')) throw new Error(`MC_DROPOUT_REQUIRE asks for ${need}, but ${missing}`);
  console.log(`# skipped (${need}): ${missing}`);
  return missing;
}
