// Coded error classes: every error graft throws carries a stable code and the values involved.

export class GraftError extends Error {
  readonly code: string;
  readonly hint?: string;
  constructor(code: string, message: string, hint?: string) {
    super(hint ? `${message} (hint: ${hint})` : message);
    this.name = new.target.name;
    this.code = code;
    this.hint = hint;
  }
}

/** A libtorch op failed: names the op and its tensor arguments. */
export class TorchError extends GraftError {
  readonly op: string;
  constructor(op: string, message: string, hint?: string) {
    super('GRAFT_TORCH', message, hint);
    this.op = op;
  }
}

/** The native addon is missing or could not be loaded. */
export class BindingError extends GraftError {
  constructor(message: string, hint?: string) {
    super('GRAFT_BINDING', message, hint);
  }
}

/** Wrong shapes or sizes, found before reaching libtorch. */
export class ShapeError extends GraftError {
  constructor(message: string, hint?: string) {
    super('GRAFT_SHAPE', message, hint);
  }
}

/** A bad argument to a graft API. */
export class ArgumentError extends GraftError {
  constructor(message: string, hint?: string) {
    super('GRAFT_ARGS', message, hint);
  }
}

/** A tensor used after dispose(). */
export class DisposedError extends GraftError {
  constructor(message = 'tensor was disposed') {
    super('GRAFT_DISPOSED', message, 'keep it with tidy(() => ..., [kept]) or do not dispose it');
  }
}

/** A checkpoint file that cannot be read safely: names the file and the reason. */
export class CheckpointError extends GraftError {
  readonly file: string;
  constructor(file: string, reason: string, hint?: string) {
    super('GRAFT_CHECKPOINT', `${file}: ${reason}`, hint);
    this.file = file;
  }
}

/** A recipe or config value that does not fit the schema: names the path and what was expected. */
export class RecipeError extends GraftError {
  readonly path: string;
  constructor(path: string, message: string, hint?: string) {
    super('GRAFT_RECIPE', `${path}: ${message}`, hint);
    this.path = path;
  }
}

/** A model or layer graft cannot quantize or shrink as asked: names the module and why. */
export class QuantError extends GraftError {
  constructor(message: string, hint?: string) {
    super('GRAFT_QUANT', message, hint);
  }
}

/**
 * A distributed (c10d) operation failed: names the operation and this rank. Codes:
 * GRAFT_DIST_TIMEOUT (a rank hung or never arrived), GRAFT_DIST_PEER (a rank exited or its
 * connection broke), GRAFT_DIST_ADDRESS (bad master address, port in use), GRAFT_DIST (others).
 */
export class DistError extends GraftError {
  readonly op: string;
  /** the ranks found gone (their heartbeat stopped) when this error was explained */
  readonly ranks?: number[];
  constructor(code: string, op: string, message: string, hint?: string, ranks?: number[]) {
    super(code, message, hint);
    this.op = op;
    if (ranks) this.ranks = ranks;
  }
}
