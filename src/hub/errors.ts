// Download and cache errors: each says which file, from where, and what to do about it.
import { GraftError } from '../errors.ts';

/**
 * A download or cache lookup failed. Codes: GRAFT_HUB_NOT_FOUND (404: no such file, repository or
 * revision), GRAFT_HUB_TIMEOUT (the server did not answer or stalled), GRAFT_HUB_CORRUPT (the bytes
 * do not match the publisher's sha256 / size: nothing is kept), GRAFT_HUB_OFFLINE (offline mode and
 * the file is not in the cache), GRAFT_HUB_HTTP (another HTTP status), GRAFT_HUB_NETWORK (no
 * connection), GRAFT_HUB_WRITE / GRAFT_DISK_FULL (the cache folder cannot be written), GRAFT_HUB
 * (others).
 */
export class HubError extends GraftError {
  /** the URL or cache path involved */
  readonly url: string;
  constructor(code: string, url: string, message: string, hint?: string) {
    super(code, message, hint);
    this.url = url;
  }
}

/** 404: the file, repository or revision does not exist there. */
export class HubNotFoundError extends HubError {
  /** what the Hub said is missing (its X-Error-Code), when it said */
  readonly missing: 'repository' | 'revision' | 'file' | undefined;
  constructor(url: string, message: string, hint?: string, missing?: 'repository' | 'revision' | 'file') {
    super('GRAFT_HUB_NOT_FOUND', url, message, hint);
    this.missing = missing;
  }
}

/** The server did not answer within the time limit, or stopped sending. */
export class HubTimeoutError extends HubError {
  constructor(url: string, message: string, hint?: string) {
    super('GRAFT_HUB_TIMEOUT', url, message, hint);
  }
}

/** The downloaded bytes do not match the publisher's hash or size; nothing was kept. */
export class HubCorruptError extends HubError {
  constructor(url: string, message: string, hint?: string) {
    super('GRAFT_HUB_CORRUPT', url, message, hint);
  }
}

/** Offline (HF_HUB_OFFLINE=1 or the network is unreachable) and the file is not in the cache. */
export class HubOfflineError extends HubError {
  constructor(url: string, message: string, hint?: string) {
    super('GRAFT_HUB_OFFLINE', url, message, hint);
  }
}
