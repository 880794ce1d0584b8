/**
 * The report of a segmentation model as one self-contained page: the pixel metrics (MC beside
 * dropout off), per-class IoU and Dice, and for the most uncertain images the image, its truth,
 * its label map and its entropy map side by side. Images inline (data: URIs); no request leaves the page.
 */
import { thumbnailJpeg } from '../preprocess/decode.js';
import type { MapEvaluationReport, ShownImage } from '../run/segment/evaluate.js';
import { CLASS_HEADER, classRows, mapMetricRows } from '../segmentation/table.js';
import { escapeHtml, pageHead } from './html.js';

const MAP_STYLE = `.maps { display: grid; grid-template-columns: repeat(4, 1fr); gap: .5rem; margin: .6rem 0 1.4rem; }
.maps figure { margin: 0; } .maps img { width: 100%; image-rendering: pixelated; background: #fafafa; }`;

/** The side-by-side row of one image: the image (thumbnail), the truth, the label map, the entropy map. */
async function shownRow(image: ShownImage): Promise<string> {
  const jpeg = await thumbnailJpeg(image.path, 256);
  const figure = (src: string | undefined, caption: string) =>
    `<figure>${src ? `<img src="${src}" alt="${escapeHtml(caption)}">` : '<div class="missing">unreadable</div>'}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
  const png = (bytes: Buffer) => `data:image/png;base64,${bytes.toString('base64')}`;
  return `<h3>${escapeHtml(image.path)}</h3><p class="meta">mean mutual information ${image.mutual_information.toFixed(4)} · mean entropy ${image.entropy.toFixed(4)} · pixel accuracy ${(100 * image.pixel_accuracy).toFixed(2)}%</p>
<div class="maps">${figure(jpeg && `data:image/jpeg;base64,${jpeg.toString('base64')}`, 'image')}${figure(png(image.truth_png), 'truth')}${figure(png(image.label_png), 'label (MC)')}${figure(png(image.entropy_png), 'entropy (black 0, white ln C)')}</div>`;
}

/** The report page of a segmentation model's evaluation. */
export async function buildMapReportHtml(report: MapEvaluationReport): Promise<string> {
  const c = report.counts;
  const metrics = mapMetricRows(report.deterministic, report.mc)
    .map(
      (r) =>
        `<tr><td>${escapeHtml(r.metric)} <span class="better">(${r.better} is better)</span></td><td class="num">${escapeHtml(r.deterministic)}</td><td class="num">${escapeHtml(r.mc)}</td></tr>`,
    )
    .join('');
  const classes = classRows(report.labels, report.deterministic, report.mc)
    .map((r) => `<tr>${r.map((cell, i) => `<td${i ? ' class="num"' : ''}>${escapeHtml(cell)}</td>`).join('')}</tr>`)
    .join('');
  const shown = (await Promise.all(report.shown.map(shownRow))).join('\n');
  const { shown: _shown, ...metadata } = report;
  const model = `${escapeHtml(report.model.path)} (sha256 ${report.model.sha256.slice(0, 12)}…)`;
  return `${pageHead(model, MAP_STYLE)}
<body>
<h1>mc-dropout report: segmentation</h1>
<p class="meta">Model ${model} · maps ${report.model.map.height}x${report.model.map.width} · T=${report.passes} · seed ${report.seed}${report.ignore_index !== null ? ` · truth ${report.ignore_index} ignored` : ''}<br>
${c.images} images: ${c.evaluated} evaluated against their masks, ${c.without_mask} without a mask${c.failed ? `, ${c.failed} failed` : ''}; ${report.mc.pixels} pixels</p>
<h2>Pixel metrics</h2>
<table><tr><th>metric</th><th class="num">dropout off</th><th class="num">MC T=${report.passes}</th></tr>${metrics}</table>
<h2>Per class</h2>
<table><tr>${CLASS_HEADER.map((h, i) => `<th${i ? ' class="num"' : ''}>${escapeHtml(h)}</th>`).join('')}</tr>${classes}</table>
<h2>Most uncertain images</h2>
<p class="meta">The ${report.shown.length} images with the highest mean mutual information, the image beside its truth, its MC label map and its entropy map.</p>
${shown || '<p>None.</p>'}
<h2>Run metadata</h2>
<details><summary>JSON</summary><pre>${escapeHtml(JSON.stringify(metadata, null, 2))}</pre></details>
</body>
</html>
`;
}
