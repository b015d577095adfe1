// Cheap magic-byte sniffing for media files: looks at no more than the first 16 bytes.

/** Content type for every extension `sniffFormat` can return, plus "html". */
export const MIME: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  bmp: "image/bmp",
  wav: "audio/wav",
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  flac: "audio/flac",
  mp4: "video/mp4",
  webm: "video/webm",
  html: "text/html",
};

/** ISO-BMFF major brands that are still images (HEIF/AVIF), not mp4 video. */
const IMAGE_BRANDS = new Set(["avif", "avis", "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1"]);

function ascii(bytes: Uint8Array, start: number, text: string): boolean {
  if (bytes.length < start + text.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...bytes.subarray(start, end));
}

/**
 * An MPEG audio frame header: 11 sync bits, then version != reserved (01),
 * layer != reserved (00, which is also how ADTS AAC starts), bitrate index !=
 * 1111 and sample-rate index != 11.
 */
function isMpegAudioFrame(b: Uint8Array): boolean {
  if (b.length < 3 || b[0] !== 0xff || (b[1] & 0xe0) !== 0xe0) return false;
  const version = (b[1] >> 3) & 0b11;
  const layer = (b[1] >> 1) & 0b11;
  const bitrate = b[2] >> 4;
  const sampleRate = (b[2] >> 2) & 0b11;
  return version !== 0b01 && layer !== 0b00 && bitrate !== 0b1111 && sampleRate !== 0b11;
}

/**
 * The file extension implied by the magic bytes at the start of `bytes`
 * ("png", "jpg", "gif", "webp", "bmp", "wav", "mp3", "ogg", "flac", "mp4",
 * "webm"), or null when none matches. Reads at most the first 16 bytes.
 */
export function sniffFormat(bytes: Uint8Array): string | null {
  const b = bytes.length > 16 ? bytes.subarray(0, 16) : bytes;
  if (b.length < 3) return null;
  if (b[0] === 0x89 && ascii(b, 1, "PNG\r\n\x1a\n")) return "png";
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpg";
  if (ascii(b, 0, "GIF87a") || ascii(b, 0, "GIF89a")) return "gif";
  if (ascii(b, 0, "RIFF")) {
    if (ascii(b, 8, "WEBP")) return "webp";
    if (ascii(b, 8, "WAVE")) return "wav";
    return null;
  }
  // "BM" alone is too weak (plain text can start with it): also require the
  // reserved header words to be zero and a pixel-data offset past the headers.
  if (ascii(b, 0, "BM") && b.length >= 14 && b[6] === 0 && b[7] === 0 && b[8] === 0 && b[9] === 0) {
    const offset = b[10] | (b[11] << 8) | (b[12] << 16) | (b[13] << 24);
    if (offset >= 26) return "bmp";
  }
  if (ascii(b, 0, "OggS")) return "ogg";
  if (ascii(b, 0, "fLaC")) return "flac";
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return "webm";
  if (ascii(b, 4, "ftyp")) {
    if (b.length >= 12 && IMAGE_BRANDS.has(latin1(b, 8, 12))) return null;
    return "mp4";
  }
  // ID3v2 tag: "ID3", major version byte and revision byte are never 0xFF.
  if (ascii(b, 0, "ID3") && b.length >= 5 && b[3] !== 0xff && b[4] !== 0xff) return "mp3";
  if (isMpegAudioFrame(b)) return "mp3";
  return null;
}
