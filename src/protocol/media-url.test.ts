import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileNameOf, mediaUrl } from './media-url.js';

describe('mediaUrl', () => {
  it('builds <base>/<job>/[<prefix>/]<path>, one encoded segment at a time', () => {
    assert.equal(
      mediaUrl('https://c.example/media/', 'j1', undefined, 'master.m3u8'),
      'https://c.example/media/j1/master.m3u8',
    );
    assert.equal(
      mediaUrl('/media', 'j1', '/shows/ep 1/', '720p/index.m3u8'),
      '/media/j1/shows/ep%201/720p/index.m3u8',
    );
  });
  it('drops empty, . and .. segments (stays inside the job folder)', () => {
    assert.equal(mediaUrl('/media', 'j1', '../../etc', './a//b'), '/media/j1/etc/a/b');
  });
  it('fileNameOf takes the last path segment without query or fragment', () => {
    assert.equal(fileNameOf('http://h/media/j/p/master.m3u8?x=1#y'), 'master.m3u8');
    assert.equal(fileNameOf('http://h/media/j/a%20b.jpg'), 'a b.jpg');
    assert.equal(fileNameOf('http://h/media/j/'), undefined);
  });
});
