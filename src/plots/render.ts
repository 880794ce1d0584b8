/** The only module that imports vega: Vega-Lite specs to SVG, in Node, without a browser or canvas. */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Spec } from './specs.js';

/** Renders a Vega-Lite spec to a standalone SVG document. */
export async function renderSvg(spec: Spec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec as unknown as TopLevelSpec).spec), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
