/**
 * The unit tests of the modules `npm run mutate` mutates, loaded into one process: Stryker runs
 * this once per mutant, and one process instead of one per file makes that about 5x faster.
 * node:test sets a failing exit code when any of them fails.
 */
import './stats/adaptive.test.js';
import './stats/aggregate.test.js';
import './engine/masks.test.js';
import './stats/random.test.js';
import './engine/noise.test.js';
import './select/rank.test.js';
import './select/batchbald.test.js';
import './evaluate/metrics.test.js';
import './evaluate/cross-check.test.js';
import './io/names.test.js';
import './run/merge.test.js';
import './run/shards.test.js';
import './io/resume.test.js';
import './io/durable.test.js';
import './preprocess/tensor.test.js';
import './preprocess/resample.test.js';
import './preprocess/parity.test.js';
import './io/run-output.test.js';
