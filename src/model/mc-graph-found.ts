/**
 * Whether a model is an MC graph (what convert's mcGraph writes), apart from the code that builds
 * one, so a load that only checks a model is not one loads none of it.
 */
import { protoOf, type OnnxGraph } from './graph.js';
import { METADATA_PREFIX, type Layout } from './metadata.js';
import { toNumber } from './onnx.js';

/** Prefix of every node, tensor and initializer the MC graph adds. */
export const MC_GRAPH_PREFIX = 'mc_graph.';

/** A member of an ensemble's MC graph as its metadata records it: the file's base name, its SHA-256 and its passes (1 without dropout). */
export interface McGraphMember {
  file: string;
  sha256: string;
  passes: number;
}

/** What mcGraphOf finds: T where known; for an ensemble's graph, its member count and (from the metadata) the members. */
export interface McGraphFound {
  passes: number | undefined;
  /** The member count of an ensemble's graph (mcEnsembleGraph); undefined for one model's. */
  members?: number;
  /** The members as the metadata records them, where it does. */
  recorded?: McGraphMember[];
  /** A segmentation model's graph: the layout of its mean and std maps, as the metadata records it. */
  map?: Layout;
}

/** The node and tensor names under MC_GRAPH_PREFIX that belong to ensemble member k: `mc_graph.m<k>.` */
const MEMBER_NAME = /^mc_graph\.m(\d+)\./;

/**
 * Whether `model` is an MC graph: by its metadata (`mc_dropout.output` = `mc_graph`), or by the
 * nodes mcGraph (or mcEnsembleGraph) adds where the metadata was edited away. `passes` is its T
 * where known; an ensemble's graph also says how many members it holds.
 */
export function mcGraphOf(graph: OnnxGraph): McGraphFound | undefined {
  const model = protoOf(graph);
  const props = new Map((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  const marked = props.get(`${METADATA_PREFIX}output`) === 'mc_graph' || props.has(`${METADATA_PREFIX}mc_graph_passes`);
  const nodes = model.graph?.node ?? [];
  if (!marked && !nodes.some((node) => node.name?.startsWith(MC_GRAPH_PREFIX))) return undefined;
  const stated = Number(props.get(`${METADATA_PREFIX}mc_graph_passes`));
  // an ensemble member without dropout has no Tile: the first member's that has one
  // (a stochastic-depth model's graph has no Tile: its row count's factor, levels.passes)
  const repeats = (model.graph?.initializer ?? []).find((t) => /^mc_graph\.((m\d+\.)?repeats\.0|levels\.passes)$/.test(t.name ?? ''))?.int64Data?.[0];
  const passes = Number.isInteger(stated) && stated >= 2 ? stated : repeats !== undefined ? toNumber(repeats) : undefined;
  const recorded = recordedMembers(props.get(`${METADATA_PREFIX}mc_graph_members`));
  const memberNodes = new Set(nodes.flatMap((node) => MEMBER_NAME.exec(node.name ?? '')?.[1] ?? []));
  const members = recorded?.length ?? (memberNodes.size > 0 ? memberNodes.size : undefined);
  const map = props.get(`${METADATA_PREFIX}mc_graph_map`);
  return {
    passes,
    ...(members !== undefined && { members }),
    ...(recorded && { recorded }),
    ...((map === 'NCHW' || map === 'NHWC') && { map }),
  };
}

/** The members `mc_graph_members` records, or undefined where it is absent or not the list stampMcGraphMetadata writes. */
function recordedMembers(text: string | undefined): McGraphMember[] | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const isMember = (m: unknown): m is McGraphMember =>
    typeof m === 'object' &&
    m !== null &&
    typeof (m as McGraphMember).file === 'string' &&
    typeof (m as McGraphMember).sha256 === 'string' &&
    Number.isInteger((m as McGraphMember).passes);
  return Array.isArray(value) && value.length > 0 && value.every(isMember) ? value.map(({ file, sha256, passes }) => ({ file, sha256, passes })) : undefined;
}

/** "an MC graph (T=400)", "an MC graph of an ensemble of 3 members (T=400)" or "an MC graph of a segmentation model (T=8)", for messages. */
export function describeMcGraph(found: McGraphFound): string {
  const ensemble = found.members !== undefined ? ` of an ensemble of ${found.members} members` : found.map ? ' of a segmentation model' : '';
  return `an MC graph${ensemble}${found.passes !== undefined ? ` (T=${found.passes})` : ''}`;
}
