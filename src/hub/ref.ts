// The weight names a recipe or models.pretrained() accepts, besides a local path:
//   torchvision:IMAGENET1K_V2   torchvision's published weights for the model (DEFAULT: its best)
//   timm:resnet50.a1_in1k       timm's weights on the Hugging Face Hub (repository timm/<name>)
//   hf:org/name[@revision]      a Hugging Face model repository, pinned to a branch, tag or commit
//   https://host/file.pth       any URL (kept in torch.hub's cache under its file name)
import { HubError } from './errors.ts';
import { checkRepo } from './hf.ts';

export type WeightsRef =
  | { kind: 'torchvision'; tag: string }
  | { kind: 'timm'; name: string }
  | { kind: 'hf'; repo: string; revision?: string }
  | { kind: 'url'; url: string };

const SCHEME = /^(torchvision|timm|hf):/;
const URL_SCHEME = /^https?:\/\//i;

/** Whether a string names downloadable weights (a scheme above) rather than a local path. */
export const isWeightsRef = (s: string): boolean => SCHEME.test(s) || URL_SCHEME.test(s);

/** Parses a weights name; a local path gives undefined. */
export function parseWeightsRef(s: string): WeightsRef | undefined {
  if (URL_SCHEME.test(s)) return { kind: 'url', url: s };
  const m = SCHEME.exec(s);
  if (!m) return undefined;
  const rest = s.slice(m[0].length);
  const bad = (want: string): never => {
    throw new HubError('GRAFT_HUB', s, `'${s}' is not a weights name`, `write ${want}`);
  };
  if (m[1] === 'torchvision') {
    if (!/^[A-Z][A-Z0-9_]*$/.test(rest)) bad('torchvision:IMAGENET1K_V1 (or torchvision:DEFAULT)');
    return { kind: 'torchvision', tag: rest };
  }
  if (m[1] === 'timm') {
    if (!/^[a-z0-9_]+(\.[\w-]+)?$/.test(rest)) bad('timm:<architecture>[.<tag>], e.g. timm:resnet50.a1_in1k');
    return { kind: 'timm', name: rest };
  }
  const at = rest.lastIndexOf('@');
  const repo = at < 0 ? rest : rest.slice(0, at);
  const revision = at < 0 ? undefined : rest.slice(at + 1);
  if (repo === '' || revision === '') bad('hf:org/name or hf:org/name@revision');
  checkRepo(repo, revision);
  return revision === undefined ? { kind: 'hf', repo } : { kind: 'hf', repo, revision };
}

/** The name back as written (revision included). */
export function formatWeightsRef(r: WeightsRef): string {
  switch (r.kind) {
    case 'torchvision':
      return `torchvision:${r.tag}`;
    case 'timm':
      return `timm:${r.name}`;
    case 'hf':
      return `hf:${r.repo}${r.revision ? `@${r.revision}` : ''}`;
    default:
      return r.url;
  }
}
