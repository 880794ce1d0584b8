/** The tests' seeded generator in [0, 1): the library's own mulberry32, so every run of a test draws the same numbers. */
export { mulberry32 } from '../../src/stats/random.js';
