// Embedding: a lookup table, N(0, 1) init with the padding row zeroed, as PyTorch.
import { ArgumentError } from '../../errors.ts';
import { empty, F, noGrad, type Tensor } from '../../tensor/index.ts';
import * as init from '../init.ts';
import { Module } from '../module.ts';
import type { Parameter } from '../parameter.ts';
import type { FactoryOptions } from './_util.ts';

export interface EmbeddingOptions extends FactoryOptions {
  /** this row gets no gradient and starts at zero; negative counts from the end */
  paddingIdx?: number;
}

export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | undefined;
  weight: Parameter;

  constructor(numEmbeddings: number, embeddingDim: number, o: EmbeddingOptions = {}) {
    super();
    this.numEmbeddings = numEmbeddings;
    this.embeddingDim = embeddingDim;
    let pad = o.paddingIdx;
    if (pad !== undefined) {
      if (pad >= numEmbeddings || pad < -numEmbeddings)
        throw new ArgumentError(`Embedding: padding_idx ${pad} out of range for ${numEmbeddings} embeddings`);
      if (pad < 0) pad += numEmbeddings;
    }
    this.paddingIdx = pad;
    this.weight = this.registerParameter('weight', empty([numEmbeddings, embeddingDim], o));
    this.resetParameters();
  }

  resetParameters(): void {
    init.normal_(this.weight);
    if (this.paddingIdx !== undefined) {
      const row = this.weight.select(0, this.paddingIdx);
      noGrad(() => row.fill_(0));
      row.dispose();
    }
  }

  forward(indices: Tensor): Tensor {
    return F.embedding(indices, this.weight, this.paddingIdx);
  }

  override extraRepr(): string {
    const pad = this.paddingIdx === undefined ? '' : `, padding_idx=${this.paddingIdx}`;
    return `${this.numEmbeddings}, ${this.embeddingDim}${pad}`;
  }
}
