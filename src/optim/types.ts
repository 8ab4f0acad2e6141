// The shape that schedulers and fine-tuning phases see of an optimizer.
// Hyper-parameter keys keep torch.optim's names (lr, initial_lr, weight_decay, betas, ...)
// because they are serialized as-is into optimizer state dicts that PyTorch reads.

export interface ParamGroupLike {
  lr: number;
  initial_lr?: number;
  momentum?: number;
  betas?: [number, number];
  [key: string]: unknown;
}

export interface OptimizerLike {
  paramGroups: ParamGroupLike[];
}
