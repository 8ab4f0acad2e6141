// Model cards: the published weights each zoo entry can start from, where they come from, under
// which licence, and the accuracy their publisher measured (ImageNet-1k validation, single crop).
// torchvision's file names and numbers are those of torchvision.models (its *_Weights enums);
// timm's are timm's results-imagenet.csv at the card's resolution. docs/weights.md shows this table.
import { ArgumentError } from '../errors.ts';

export interface WeightsCard {
  /** 'torchvision', 'timm', 'offline' */
  source: 'torchvision' | 'timm' | 'offline' | (string & {});
  /** torchvision's enum member (IMAGENET1K_V1), timm's model name (resnet50.a1_in1k), 'offline' */
  tag: string;
  /** torchvision: the file on its server (its sha256 prefix after the '-'); timm: the Hub repository */
  file: string;
  licence: string;
  dataset: string;
  /** top-1 / top-5 accuracy in %, as published */
  acc1?: number;
  acc5?: number;
  /** the evaluation's image size */
  size?: number;
  params?: number;
  /** the weights torchvision's DEFAULT (or a bare timm:<arch>) means */
  isDefault?: boolean;
  notes?: string;
}

// the architectures' parameter counts (torchvision's num_params; timm's weights fit the same modules)
const PARAMS: Record<string, number> = { resnet18: 11689512, resnet34: 21797672, resnet50: 25557032 };
const TV = { source: 'torchvision', licence: 'BSD-3-Clause', dataset: 'ImageNet-1k', size: 224 } as const;
const TIMM = { source: 'timm', dataset: 'ImageNet-1k' } as const;
const tv = (tag: string, file: string, acc1: number, acc5: number, params: number, isDefault = false) => ({
  ...TV,
  tag,
  file,
  acc1,
  acc5,
  params,
  ...(isDefault ? { isDefault } : {}),
});
const timm = (tag: string, acc1: number, acc5: number, size: number, licence: string, isDefault = false) => ({
  ...TIMM,
  tag,
  file: `timm/${tag}`,
  acc1,
  acc5,
  size,
  params: PARAMS[tag.split('.')[0]!],
  licence,
  ...(isDefault ? { isDefault } : {}),
});

const CARDS = new Map<string, WeightsCard[]>([
  [
    'resnet18',
    [
      tv('IMAGENET1K_V1', 'resnet18-f37072fd.pth', 69.758, 89.078, 11689512, true),
      timm('resnet18.a1_in1k', 71.504, 90.086, 224, 'Apache-2.0', true),
      timm('resnet18.tv_in1k', 69.752, 89.082, 224, 'BSD-3-Clause'),
    ],
  ],
  [
    'resnet34',
    [
      tv('IMAGENET1K_V1', 'resnet34-b627a593.pth', 73.314, 91.42, 21797672, true),
      timm('resnet34.a1_in1k', 76.42, 92.896, 224, 'Apache-2.0', true),
      timm('resnet34.tv_in1k', 73.298, 91.422, 224, 'BSD-3-Clause'),
    ],
  ],
  [
    'resnet50',
    [
      tv('IMAGENET1K_V1', 'resnet50-0676ba61.pth', 76.13, 92.862, 25557032),
      tv('IMAGENET1K_V2', 'resnet50-11ad3fa6.pth', 80.858, 95.434, 25557032, true),
      timm('resnet50.a1_in1k', 80.382, 94.598, 224, 'Apache-2.0', true),
      timm('resnet50.tv_in1k', 76.156, 92.866, 224, 'BSD-3-Clause'),
      timm('resnet50.tv2_in1k', 80.846, 95.43, 224, 'BSD-3-Clause'),
    ],
  ],
  [
    'mobilenet_v2',
    [
      tv('IMAGENET1K_V1', 'mobilenet_v2-b0353104.pth', 71.878, 90.286, 3504872),
      tv('IMAGENET1K_V2', 'mobilenet_v2-7ebf99e0.pth', 72.154, 90.822, 3504872, true),
      {
        source: 'offline',
        tag: 'offline',
        file: 'npm: nsfwjs@4.4.0 (dist/models/mobilenet_v2)',
        licence: 'MIT',
        dataset: 'ImageNet-1k (Keras), up to block_10',
        notes: "Keras's ImageNet weights up to block_10, tuned by nsfwjs after; no network needed",
      },
    ],
  ],
  ['efficientnet_b0', [tv('IMAGENET1K_V1', 'efficientnet_b0_rwightman-3dd342df.pth', 77.692, 93.532, 5288548, true)]],
  ['alexnet', [tv('IMAGENET1K_V1', 'alexnet-owt-7be5be79.pth', 56.522, 79.066, 61100840, true)]],
  ['vgg16', [tv('IMAGENET1K_V1', 'vgg16-397923af.pth', 71.592, 90.382, 138357544, true)]],
  ['vgg16_bn', [tv('IMAGENET1K_V1', 'vgg16_bn-6c64b313.pth', 73.36, 91.516, 138365992, true)]],
]);

/** The timm architecture names whose parameter names are torchvision's (they load as they are). */
const TIMM_ARCH: Record<string, string> = { resnet18: 'resnet18', resnet34: 'resnet34', resnet50: 'resnet50' };

/** The registry model a timm architecture loads into, or undefined. */
export const timmArchitecture = (timmArch: string): string | undefined => TIMM_ARCH[timmArch];

/** The published weights of a registry model (its model card), in the order shown. */
export const weightsOf = (model: string): readonly WeightsCard[] => CARDS.get(model) ?? [];

/** Every model with published weights, sorted, with its cards. */
export const weightsCards = (): [string, readonly WeightsCard[]][] =>
  [...CARDS.entries()].sort(([a], [b]) => a.localeCompare(b));

/**
 * Adds weights to a model's card: your own mirror of a torchvision-style file (a `-<sha256 prefix>.`
 * in its name is checked on download), or timm names for an architecture graft loads as it is.
 */
export function registerWeights(model: string, card: WeightsCard, o: { timmArch?: string } = {}): void {
  const cards = CARDS.get(model) ?? [];
  if (cards.some((c) => c.source === card.source && c.tag === card.tag))
    throw new ArgumentError(`${model} already has ${card.source} weights '${card.tag}'`);
  CARDS.set(model, [...cards, card]);
  if (o.timmArch) TIMM_ARCH[o.timmArch] = model;
}

/** The card a source and tag name ('DEFAULT' and a bare timm architecture: the default one). */
export function findWeights(model: string, source: string, tag: string): WeightsCard | undefined {
  const cards = weightsOf(model).filter((c) => c.source === source);
  if (tag === 'DEFAULT' || (source === 'timm' && !tag.includes('.')))
    return cards.find((c) => c.isDefault && (source !== 'timm' || c.tag.startsWith(`${tag}.`) || tag === 'DEFAULT'));
  return cards.find((c) => c.tag === tag);
}

const pct = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(3).replace(/0+$/, '').replace(/\.$/, ''));

/** How to ask for a card's weights in a recipe's model.pretrained (or models.pretrained's weights). */
export const weightsName = (c: WeightsCard): string => (c.source === 'offline' ? 'offline' : `${c.source}:${c.tag}`);

/** The model cards as a markdown table (docs/weights.md is generated from it). */
export function weightsMarkdown(): string {
  const rows = [
    '| model | `model.pretrained` | file / repository | licence | top-1 % | top-5 % | params |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const [model, cards] of weightsCards())
    for (const c of cards) {
      const alias = c.source === 'timm' ? `timm:${c.tag.split('.')[0]}` : `${c.source}:DEFAULT`;
      const name = `\`${weightsName(c)}\`${c.isDefault ? ` (= \`${alias}\`)` : ''}`;
      const params = c.params === undefined ? '–' : `${(c.params / 1e6).toFixed(1)} M`;
      const size = c.size && c.size !== 224 ? ` @${c.size}` : '';
      rows.push(
        `| ${model} | ${name} | ${c.file} | ${c.licence} | ${pct(c.acc1)}${size} | ${pct(c.acc5)} | ${params} |`,
      );
    }
  return rows.join('\n');
}
