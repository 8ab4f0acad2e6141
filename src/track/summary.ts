// Summary values and events as TensorBoard's and PyTorch's writers build them: scalars as
// `simple_value` (SummaryWriter.add_scalar), histograms as HistogramProto, hyper-parameters as the
// HParams plugin's session start / end records (torch.utils.tensorboard.summary.hparams, without
// the experiment record: TensorBoard then builds the experiment from every run's session start, so
// runs with different hyper-parameters sit side by side in the HPARAMS tab). Proto3 default values
// (0, '') are left unset, as the Python writers leave them.
import type { Histogram } from './histogram.ts';
import { encodeMessage } from './proto.ts';

/** First record of every event file. */
export const FILE_VERSION = 'brain.Event:2';
export const HPARAMS_PLUGIN = 'hparams';
export const SESSION_START_TAG = '_hparams_/session_start_info';
export const SESSION_END_TAG = '_hparams_/session_end_info';

/** A hyper-parameter's value as the HParams plugin stores it. */
export type HparamValue = number | string | boolean;
/** How a training session ended (the HParams plugin's Status). */
export type SessionStatus = 'success' | 'failure' | 'running' | 'unknown';

/** A Summary.Value as plain data (protobufjs field names). */
export type SummaryValue = Record<string, unknown> & { tag: string };

export const scalarValue = (tag: string, value: number): SummaryValue => ({ tag, simpleValue: value });

/** A histogram value; zero fields left out (proto3 defaults). */
export function histogramValue(tag: string, h: Histogram): SummaryValue {
  const histo: Record<string, unknown> = { bucketLimit: h.bucketLimit, bucket: h.bucket };
  for (const k of ['min', 'max', 'num', 'sum', 'sumSquares'] as const) if (h[k] !== 0) histo[k] = h[k];
  return { tag, histo };
}

function pluginValue(tag: string, data: Record<string, unknown>): SummaryValue {
  // HParamsPluginData.version is 0 (PLUGIN_DATA_VERSION): a default, so not written
  const content = encodeMessage('tensorboard.hparams.HParamsPluginData', data);
  return { tag, metadata: { pluginData: { pluginName: HPARAMS_PLUGIN, content } } };
}

function structValue(v: HparamValue): Record<string, unknown> {
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return { numberValue: v };
  return { stringValue: v };
}

/** The session start record: the run's hyper-parameters (keys sorted, for the same bytes every time). */
export function sessionStartValue(
  hparams: Record<string, HparamValue>,
  o: { startTimeSecs?: number; groupName?: string } = {},
): SummaryValue {
  const map: Record<string, unknown> = {};
  for (const k of Object.keys(hparams).sort()) map[k] = structValue(hparams[k]!);
  const info: Record<string, unknown> = { hparams: map };
  if (o.groupName) info.groupName = o.groupName;
  if (o.startTimeSecs) info.startTimeSecs = o.startTimeSecs;
  return pluginValue(SESSION_START_TAG, { sessionStartInfo: info });
}

const STATUS: Record<SessionStatus, number> = { unknown: 0, success: 1, failure: 2, running: 3 };

/** The session end record: how the run ended. */
export function sessionEndValue(status: SessionStatus, o: { endTimeSecs?: number } = {}): SummaryValue {
  const info: Record<string, unknown> = {};
  if (STATUS[status]) info.status = STATUS[status];
  if (o.endTimeSecs) info.endTimeSecs = o.endTimeSecs;
  return pluginValue(SESSION_END_TAG, { sessionEndInfo: info });
}

export interface EventData {
  /** seconds since the Unix epoch */
  wallTime: number;
  step?: number;
  fileVersion?: string;
  summary?: SummaryValue[];
  /**
   * SessionLog START: the run restarted here. TensorBoard then drops what the run's files hold at
   * this step or later (data a crashed run logged past the checkpoint it resumes from).
   */
  sessionStart?: boolean;
}

/** A serialized Event. */
export function encodeEvent(e: EventData): Uint8Array {
  const obj: Record<string, unknown> = { wallTime: e.wallTime };
  if (e.step) obj.step = e.step;
  if (e.fileVersion !== undefined) obj.fileVersion = e.fileVersion;
  if (e.summary) obj.summary = { value: e.summary };
  if (e.sessionStart) obj.sessionLog = { status: 1 }; // SessionLog.START
  return encodeMessage('tensorboard.Event', obj);
}
