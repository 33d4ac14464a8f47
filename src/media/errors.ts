import { VidmeshError } from '../errors.js';

/**
 * Errors of the media pipeline. Codes are stable (API clients, job records and tests match on them).
 * Input problems are 4xx and never retryable (the same file fails the same way); machine problems
 * (ffmpeg crashed, stalled) are 5xx and retryable on another attempt or node.
 */

/** The input could not be probed. Base of the specific probe errors below. HTTP 422. */
export class ProbeError extends VidmeshError {
  override readonly code: string = 'probe_failed';
  override readonly status: number = 422;
}

/** The input path does not exist or is not a regular file. HTTP 404. */
export class InputNotFoundError extends ProbeError {
  override readonly code: string = 'input_not_found';
  override readonly status: number = 404;
}

/** The input file has zero bytes. */
export class EmptyFileError extends ProbeError {
  override readonly code: string = 'empty_file';
}

/** ffprobe recognises no media container in the input (text, random bytes, unsupported format). */
export class NotMediaError extends ProbeError {
  override readonly code: string = 'not_media';
}

/** The input is a media file cut short (missing index, data ending before the declared duration). */
export class TruncatedMediaError extends ProbeError {
  override readonly code: string = 'truncated';
}

/** The input has neither a decodable video stream nor an audio stream. */
export class NoVideoError extends ProbeError {
  override readonly code: string = 'no_video';
}

/** ffmpeg/ffprobe exited with an error while encoding. Retryable: it may be the machine. HTTP 500. */
export class EncodeError extends VidmeshError {
  override readonly code: string = 'encode_failed';
  override readonly status: number = 500;
  override readonly retryable: boolean = true;
}

/** ffmpeg reported no progress for longer than the stall timeout and was killed. */
export class EncodeStalledError extends EncodeError {
  override readonly code: string = 'encode_stalled';
}

/** The encode was cancelled through its AbortSignal; ffmpeg's process group was killed. HTTP 499. */
export class CancelledError extends VidmeshError {
  override readonly code: string = 'cancelled';
  override readonly status: number = 499;
}

/** ffmpeg or ffprobe is not installed or not executable. HTTP 500. */
export class FfmpegMissingError extends VidmeshError {
  override readonly code: string = 'ffmpeg_missing';
  override readonly status: number = 500;
}

/** A hardware backend was requested explicitly (`--hwaccel nvenc`) but cannot encode here. HTTP 422. */
export class HwaccelUnavailableError extends VidmeshError {
  override readonly code: string = 'hwaccel_unavailable';
  override readonly status: number = 422;
}
