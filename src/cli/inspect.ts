import { inspectJson, inspectModel, type InspectReport, type TensorDescription } from '../run/inspect.js';
import { withFlags } from './flags.js';

/** `mc-dropout inspect MODEL`: prints the report; exit 0 when MC-ready, 1 otherwise. */
export async function runInspect(file: string, options: { json?: boolean; modelOutput?: string }): Promise<number> {
  const read = await inspectModel(file, { ...(options.modelOutput !== undefined && { output: options.modelOutput }) });
  const report = { ...read, warnings: read.warnings.map((w) => withFlags(w, 'inspect')) };
  process.stdout.write(options.json ? inspectJson(report) : formatReport(report));
  return report.mcReady ? 0 : 1;
}

const shape = (t: TensorDescription) => `${t.name}: ${t.type} [${(t.shape ?? ['?']).map((d) => d ?? '?').join(', ')}]`;

function formatReport(r: InspectReport): string {
  const lines = [
    `${r.file}  (${(r.sizeBytes / 1024 / 1024).toFixed(2)} MB, ${r.parameters.toLocaleString('en-US')} parameters, IR ${r.irVersion}, opset ${r.opset}${r.producer ? `, ${r.producer}` : ''})`,
    ...(r.externalFiles.length > 0 ? [`weights:  in ${r.externalFiles.join(', ')} beside the model (sizes include them)`] : []),
    `inputs:   ${r.inputs.map(shape).join('; ')}`,
    `outputs:  ${r.outputs.map(shape).join('; ')}`,
    ...(r.map
      ? [
          `segmentation: ${r.classifierOutput} is a class-score map, ${r.map.binary ? '1 channel read as 2 classes (sigmoid)' : `${r.map.classes} classes`} at ${r.map.height < 0 ? '?' : r.map.height}x${r.map.width < 0 ? '?' : r.map.width} (${r.map.layout}): predict writes maps per image into a folder (-o FOLDER)`,
        ]
      : []),
    `metadata: ${
      Object.keys(r.metadata).length > 0
        ? Object.entries(r.metadata)
            .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
            .join(' ')
        : 'none (ImageNet mean/std, stretch, bilinear)'
    }`,
    `stochastic sites: ${r.sites.length}`,
    ...r.sites.map(
      (s) =>
        `  ${s.live ? 'live ' : 'inert'} ${s.layer === s.op ? s.op : `${s.layer} (${s.op})`} ${s.node} ${s.layer === 'Gaussian noise' ? 'sigma' : 'rate'} ${s.rate ?? '?'} on ${s.input} (${s.position}): ${s.detail ? `${s.detail}; ` : ''}${s.reason}${s.prefixSharing ? `; shares prefixes by ${s.prefixSharing}` : ''}`,
    ),
    `trunk reuse: ${r.trunkReuse ? (r.trunkReuse.applies ? `yes, ${(r.trunkReuse.headParameterShare * 100).toFixed(1)}% of the parameters${r.trunkReuse.headMacShare !== null ? ` and ${(r.trunkReuse.headMacShare * 100).toFixed(2)}% of the multiply-accumulates` : ''} run T times; ${r.trunkReuse.reason}` : `no: ${r.trunkReuse.reason}`) : 'n/a'}`,
    ...(r.paddleDropouts.length > 0
      ? [
          'Paddle dropout, made random by convert --revive-paddle:',
          ...r.paddleDropouts.map((d) => `  Mul ${d.node}: ${d.input} x ${d.keep.toPrecision(7).replace(/\.?0+$/, '')} -> ${d.output} (p = ${d.rate})`),
        ]
      : []),
    ...(r.injection.length > 0
      ? [
          'dropout could go at (convert --inject-at TENSOR:P):',
          ...r.injection.map((c) => `  ${c.tensor} [${(c.shape ?? ['?']).map((d) => (d === '' ? '?' : d)).join(', ')}] (${c.why})`),
        ]
      : []),
    ...(r.mcGraph ? mcGraphLines(r.mcGraph) : []),
    `MC-ready: ${r.mcReady ? 'yes' : r.mcGraph ? 'no (an MC graph: run it in onnxruntime)' : 'no'}`,
    ...r.warnings.map((w) => `warning: ${w}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** What an MC graph holds: its passes, and for an ensemble's, its members (one line each, where the metadata records them); a segmentation model's, its maps. */
function mcGraphLines(graph: NonNullable<InspectReport['mcGraph']>): string[] {
  const passes = graph.passes ?? '?';
  if (graph.map !== null)
    return [`MC graph: ${passes} passes inside, per-pixel statistics out (mean and std maps ${graph.map}, the rest [batch, H, W]) (docs/serving.md)`];
  if (graph.members === null) return [`MC graph: ${passes} passes inside, statistics out (docs/serving.md)`];
  return [
    `MC graph: an ensemble of ${graph.members} members, ${passes} passes inside each (1 for a member without dropout), statistics out (docs/serving.md)`,
    ...(graph.memberFiles ?? []).map((m, k) => `  member ${k}: ${m.file} (${m.passes} pass${m.passes === 1 ? '' : 'es'}) sha256 ${m.sha256}`),
  ];
}
