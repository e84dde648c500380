// The few S3 XML documents the agent reads or writes without the SDK (it only holds presigned
// URLs). Regular expressions suffice: these documents are flat and their values are escaped.

/** One part as ListParts reports it. */
export interface ListedPart {
  partNumber: number;
  /** Without the surrounding quotes. */
  etag: string;
  sizeInBytes: number;
}

function unescapeXml(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code)))
    .replace(/&amp;/g, '&');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function element(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return match ? unescapeXml(match[1] as string) : undefined;
}

/** Strips the quotes S3 puts around ETags. */
export function unquoteEtag(etag: string): string {
  return etag.trim().replace(/^"|"$/g, '');
}

/** Parts listed in a ListParts response. */
export function parseListPartsXml(xml: string): ListedPart[] {
  const parts: ListedPart[] = [];
  for (const match of xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)) {
    const body = match[1] as string;
    const partNumber = Number(element(body, 'PartNumber'));
    const etag = element(body, 'ETag');
    const sizeInBytes = Number(element(body, 'Size'));
    if (Number.isInteger(partNumber) && etag !== undefined && Number.isInteger(sizeInBytes)) {
      parts.push({ partNumber, etag: unquoteEtag(etag), sizeInBytes });
    }
  }
  return parts;
}

/** The `<Code>` of an S3 `<Error>` document, or undefined if `xml` is not one (CompleteMultipartUpload can answer 200 with an error). */
export function parseS3ErrorCode(xml: string): string | undefined {
  if (!/<Error>/.test(xml)) return undefined;
  return element(xml, 'Code') ?? 'UnknownError';
}

/** Body of CompleteMultipartUpload for the given parts (in part-number order). */
export function completeMultipartUploadXml(parts: ReadonlyArray<{ partNumber: number; etag: string }>): string {
  const items = [...parts]
    .sort((a, b) => a.partNumber - b.partNumber)
    .map(
      (part) =>
        `<Part><PartNumber>${part.partNumber}</PartNumber><ETag>"${escapeXml(unquoteEtag(part.etag))}"</ETag></Part>`,
    )
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${items}</CompleteMultipartUpload>`;
}
