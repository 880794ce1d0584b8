/**
 * The report as one self-contained HTML page: tables, figures and thumbnails inline (data: URIs),
 * no script, and a Content-Security-Policy that forbids any request, so it opens from disk offline.
 * Pure: everything it shows is handed in.
 */
import type { EvaluationReport, ImageRecord } from '../run/evaluate/file.js';
import { CURVE_HEADER, curveRows, METHOD_HEADER, methodRows, metricRows, passesLabel } from '../evaluate/table.js';

interface GalleryItem {
  image: ImageRecord;
  /** JPEG thumbnail, base64; undefined when the file could not be read. */
  thumbnail?: string;
}

export interface Gallery {
  title: string;
  note: string;
  items: GalleryItem[];
}

export interface ReportPage {
  report: EvaluationReport;
  /** SVG documents with their titles. */
  figures: { title: string; svg: string }[];
  galleries: Gallery[];
}

/** Text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "DejaVu Sans", sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.meta { color: #555; } table { border-collapse: collapse; margin: .6rem 0; } th, td { padding: .25rem .7rem; border-bottom: 1px solid #eee; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; } th { text-align: left; background: #f6f6f6; }
.better { color: #888; font-size: .85em; } figure { display: inline-block; margin: .5rem 1rem 1rem 0; vertical-align: top; }
figure img { max-width: 100%; height: auto; } figcaption { color: #555; font-size: .9em; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: .8rem; }
.card { border: 1px solid #e3e3e3; border-radius: 6px; padding: .4rem; font-size: .82em; overflow-wrap: anywhere; }
.card img { display: block; width: 100%; height: 120px; object-fit: contain; background: #fafafa; image-rendering: pixelated; }
.card .missing { height: 120px; display: flex; align-items: center; justify-content: center; background: #f3f3f3; color: #999; }
.wrong { color: #c0392b; font-weight: 600; } pre { background: #f6f6f6; padding: .8rem; overflow-x: auto; font-size: .8em; }
`;

function metricTable(report: EvaluationReport): string {
  if (!report.numbers)
    return '<p>No image has a true class, so there are no metrics: give the true classes as a CSV of path,label, or as one folder per class.</p>';
  const rows = metricRows(report.numbers).map(
    (r) =>
      `<tr><td>${escapeHtml(r.metric)} <span class="better">(${r.better} is better)</span></td><td class="num">${escapeHtml(r.deterministic)}</td><td class="num">${escapeHtml(r.mc)}</td></tr>`,
  );
  const curve = curveRows(report.numbers);
  const curveTable =
    curve.length === 0
      ? ''
      : `<h3>With the first T passes</h3><table><tr>${CURVE_HEADER.map((h, i) => `<th${i ? ' class="num"' : ''}>${escapeHtml(h)}</th>`).join('')}</tr>${curve
          .map((r) => `<tr>${r.map((c, i) => `<td${i ? ' class="num"' : ''}>${escapeHtml(c)}</td>`).join('')}</tr>`)
          .join('')}</table>`;
  return `${methodsTable(report)}${splitTable(report)}<table><tr><th>metric</th><th class="num">deterministic</th><th class="num">MC T=${passesLabel(report.numbers.passes)}</th></tr>${rows.join('')}</table>${curveTable}`;
}

/** A table of text cells, the first column left-aligned. */
function htmlTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cell = (tag: string) => (c: string, i: number) => `<${tag}${i ? ' class="num"' : ''}>${escapeHtml(c)}</${tag}>`;
  return `<table><tr>${header.map(cell('th')).join('')}</tr>${rows.map((r) => `<tr>${r.map(cell('td')).join('')}</tr>`).join('')}</table>`;
}

/** An ensemble's (or TTA's) methods side by side. */
function methodsTable(report: EvaluationReport): string {
  const rows = report.numbers ? methodRows(report.numbers) : [];
  return rows.length === 0 ? '' : `<h3>By method</h3>${htmlTable(METHOD_HEADER, rows)}`;
}

/** The uncertainty split into its parts, averaged over the images. */
function splitTable(report: EvaluationReport): string {
  const d = report.decomposition;
  if (!d) return '';
  const row = (name: string, v: number) => [name, v.toFixed(4), d.total_entropy > 0 ? `${((100 * v) / d.total_entropy).toFixed(1)}%` : '-'];
  return `<h3>The uncertainty split (mean over ${d.images} images, nats)</h3>${htmlTable(
    ['part', 'mean', 'share of total'],
    [
      row('total entropy', d.total_entropy),
      row('expected entropy (aleatoric)', d.expected_entropy),
      row('mutual information (epistemic)', d.mutual_information),
      row('  between members', d.between_members),
      row('  between views', d.between_views),
      row('  within members (MC dropout)', d.within_passes),
    ],
  )}<p>Member disagreement (share of members whose top class differs from the ensemble's): ${d.member_disagreement.toFixed(4)}</p>`;
}

function card(item: GalleryItem, labels: readonly string[]): string {
  const im = item.image;
  const name = (i: number) => escapeHtml(labels[i] ?? String(i));
  const wrong = im.truth !== null && im.truth !== im.predicted;
  const picture = item.thumbnail
    ? `<img src="data:image/jpeg;base64,${item.thumbnail}" alt="${escapeHtml(im.path)}">`
    : '<div class="missing">image not readable</div>';
  return (
    `<div class="card">${picture}<div title="${escapeHtml(im.path)}">${escapeHtml(im.path.split('/').slice(-2).join('/'))}</div>` +
    `<div>predicted <b${wrong ? ' class="wrong"' : ''}>${name(im.predicted)}</b>${im.truth !== null ? ` · true ${name(im.truth)}` : ''}</div>` +
    `<div>confidence ${im.confidence.toFixed(3)} · MI ${im.mutual_information.toFixed(3)}</div></div>`
  );
}

/**
 * The page's start up to its body: a Content-Security-Policy that forbids any request (images
 * inline only, no script), the title (HTML already escaped) and the house style plus `style`.
 */
export function pageHead(title: string, style = ''): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mc-dropout report: ${title}</title>
<style>${STYLE}${style}</style>
</head>`;
}

/** The whole page. */
export function reportHtml(page: ReportPage): string {
  const { report } = page;
  const c = report.counts;
  const { images: _images, ...metadata } = report;
  const model = report.model ? `${escapeHtml(report.model.path)} (sha256 ${report.model.sha256.slice(0, 12)}…)` : escapeHtml(report.source.file ?? '');
  const figures = page.figures
    .map(
      (f) =>
        `<figure><img src="data:image/svg+xml;base64,${Buffer.from(f.svg).toString('base64')}" alt="${escapeHtml(f.title)}"><figcaption>${escapeHtml(f.title)}</figcaption></figure>`,
    )
    .join('\n');
  const galleries = page.galleries
    .map(
      (g) =>
        `<h2>${escapeHtml(g.title)}</h2><p class="meta">${escapeHtml(g.note)}</p>${
          g.items.length === 0 ? '<p>None.</p>' : `<div class="gallery">${g.items.map((i) => card(i, report.labels)).join('\n')}</div>`
        }`,
    )
    .join('\n');
  return `${pageHead(model)}
<body>
<h1>mc-dropout report</h1>
<p class="meta">Model ${model} · T=${passesLabel(report.passes)}${report.seed !== undefined ? ` · seed ${report.seed}` : ''}${report.provider ? ` · ${escapeHtml(report.provider)}` : ''} · ${escapeHtml(report.started)}<br>
${c.images} images: ${c.labeled} with a true class, ${c.unlabeled} without${c.failed ? `, ${c.failed} failed` : ''}</p>
<h2>Metrics</h2>
${metricTable(report)}
${figures ? `<h2>Figures</h2>\n${figures}` : ''}
${galleries}
<h2>Run metadata</h2>
<details><summary>JSON</summary><pre>${escapeHtml(JSON.stringify(metadata, null, 2))}</pre></details>
</body>
</html>
`;
}
