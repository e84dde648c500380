import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { completeMultipartUploadXml, parseListPartsXml, parseS3ErrorCode } from './s3-xml.js';

describe('S3 XML', () => {
  test('parses ListParts, unquoting ETags', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?><ListPartsResult><Bucket>b</Bucket><Part><PartNumber>2</PartNumber><LastModified>x</LastModified><ETag>&quot;abc&quot;</ETag><Size>5</Size></Part><Part><PartNumber>1</PartNumber><ETag>"def"</ETag><Size>8388608</Size></Part></ListPartsResult>`;
    assert.deepEqual(parseListPartsXml(xml), [
      { partNumber: 2, etag: 'abc', sizeInBytes: 5 },
      { partNumber: 1, etag: 'def', sizeInBytes: 8388608 },
    ]);
    assert.deepEqual(parseListPartsXml('<ListPartsResult></ListPartsResult>'), []);
  });
  test('finds an error in a 200 answer', () => {
    assert.equal(
      parseS3ErrorCode('<?xml version="1.0"?><Error><Code>InternalError</Code><Message>x</Message></Error>'),
      'InternalError',
    );
    assert.equal(
      parseS3ErrorCode('<CompleteMultipartUploadResult><ETag>"x"</ETag></CompleteMultipartUploadResult>'),
      undefined,
    );
  });
  test('writes CompleteMultipartUpload in part order with quoted ETags', () => {
    assert.equal(
      completeMultipartUploadXml([
        { partNumber: 2, etag: '"b"' },
        { partNumber: 1, etag: 'a' },
      ]),
      '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>"b"</ETag></Part></CompleteMultipartUpload>',
    );
  });
});
