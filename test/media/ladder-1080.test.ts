import { LADDER_CASES, ladderTests } from './ladder-cases.js';

// Landscape 1080p sources (full three-rendition ladders): H.264 25 fps, HEVC (trimmed), 60 fps.
ladderTests(LADDER_CASES.filter((c) => c.want[0]!.startsWith('1080p=1920')));
