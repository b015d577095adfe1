// Audio samples cross the threads as raw bytes with a tag: the tag names the typed array
// they were given as on the main thread and are read back into in the worker. One table
// for both directions.

export const SAMPLE_ARRAYS = {
  f32: Float32Array,
  f64: Float64Array,
  i16: Int16Array,
  i32: Int32Array,
  i8: Int8Array,
  u8: Uint8Array,
  u16: Uint16Array,
} as const;

export type SampleType = keyof typeof SAMPLE_ARRAYS;

/** Typed arrays of audio samples, converted to 16-bit PCM as Trackio's Python client does. */
export type SampleArray = InstanceType<(typeof SAMPLE_ARRAYS)[SampleType]>;

const TAGS = Object.keys(SAMPLE_ARRAYS) as SampleType[];

/** The tag of a typed array of samples; null for any other value. */
export function sampleTypeOf(value: unknown): SampleType | null {
  for (const tag of TAGS) if (value instanceof SAMPLE_ARRAYS[tag]) return tag;
  return null;
}
