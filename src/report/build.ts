/** Builds the HTML report of an evaluation: figures, galleries of the images worth a look, the page. */
import { renderEvaluationFigures } from '../plots/figures.js';
import { thumbnailJpeg } from '../preprocess/decode.js';
import type { EvaluationReport, ImageRecord } from '../run/evaluate/file.js';
import { reportHtml, type Gallery } from './html.js';

/** Thumbnails per gallery, and their size in pixels. */
const GALLERY_SIZE = 24;
const THUMBNAIL_PIXELS = 120;

/** The most uncertain images by mutual information, and (with a true class) the most confident wrong ones. */
function galleryPicks(images: readonly ImageRecord[], count = GALLERY_SIZE): { uncertain: ImageRecord[]; confidentlyWrong: ImageRecord[] } {
  const byIndex = images.map((image, index) => ({ image, index }));
  const uncertain = [...byIndex].sort(
    (a, b) => b.image.mutual_information - a.image.mutual_information || b.image.entropy - a.image.entropy || a.index - b.index,
  );
  const wrong = byIndex
    .filter(({ image }) => image.truth !== null && image.truth !== image.predicted)
    .sort((a, b) => b.image.confidence - a.image.confidence || a.index - b.index);
  return { uncertain: uncertain.slice(0, count).map((x) => x.image), confidentlyWrong: wrong.slice(0, count).map((x) => x.image) };
}

/** The report page as HTML. */
export async function buildReportHtml(report: EvaluationReport): Promise<string> {
  const figures = await renderEvaluationFigures(report);
  const picks = galleryPicks(report.images);
  const withThumbnails = (images: ImageRecord[]) =>
    Promise.all(
      images.map(async (image) => {
        const jpeg = await thumbnailJpeg(image.path, THUMBNAIL_PIXELS);
        return { image, ...(jpeg && { thumbnail: jpeg.toString('base64') }) };
      }),
    );
  const galleries: Gallery[] = [
    {
      title: 'Most uncertain images',
      note: `The ${picks.uncertain.length} images with the highest mutual information (the model's own doubt, which more data would reduce).`,
      items: await withThumbnails(picks.uncertain),
    },
  ];
  if (report.numbers) {
    galleries.push({
      title: 'Confidently wrong',
      note: 'Wrong predictions, most confident first: where the model is sure and mistaken (check the labels too).',
      items: await withThumbnails(picks.confidentlyWrong),
    });
  }
  return reportHtml({ report, figures: figures.map((f) => ({ title: f.title, svg: f.svg })), galleries });
}
