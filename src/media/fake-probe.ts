// Test fixture for the colocated unit tests of src/media (ladder, ffmpeg argv snapshots): no I/O.
import type { ProbeResult, VideoStreamInfo } from './types.js';

/** A synthetic probe: 16:9 1080p30 H.264 with stereo AAC unless overridden. */
export function fakeProbe(
  video: Partial<VideoStreamInfo> | undefined,
  extra: Partial<ProbeResult> = {},
): ProbeResult {
  const v: VideoStreamInfo | undefined = video && {
    index: 0,
    codec: 'h264',
    profile: 'High',
    width: 1920,
    height: 1080,
    sar: { num: 1, den: 1 },
    displayAspectRatio: '16:9',
    rotation: 0,
    displayWidth: video.width ?? 1920,
    displayHeight: video.height ?? 1080,
    frameRate: { num: 30, den: 1 },
    fps: 30,
    vfr: false,
    pixFmt: 'yuv420p',
    bitDepth: 8,
    colorTransfer: 'bt709',
    colorPrimaries: 'bt709',
    hdr: undefined,
    bitRate: 5_000_000,
    durationS: 10,
    ...video,
  };
  return {
    path: '/in/source.mp4',
    kind: v ? 'video' : 'audio',
    container: 'mov,mp4,m4a,3gp,3g2,mj2',
    durationS: 10,
    durationFrom: 'header',
    startTimeS: 0,
    sizeBytes: 1_000_000,
    bitRate: 5_000_000,
    video: v,
    audio: [
      {
        index: 1,
        codec: 'aac',
        profile: 'LC',
        channels: 2,
        sampleRate: 48000,
        bitRate: 128000,
        durationS: 10,
      },
    ],
    ...extra,
  };
}
