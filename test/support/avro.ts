/** Avro's binary encoding of a (possibly negative) long: a zigzag varint. */
export function avroLong(n: number): Buffer {
  const bytes: number[] = [];
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  while (z >= 0x80) {
    bytes.push((z % 0x80) | 0x80);
    z = Math.floor(z / 0x80);
  }
  bytes.push(z);
  return Buffer.from(bytes);
}

/** Avro's binary encoding of a string: its UTF-8 length, then its bytes. */
export const avroString = (text: string): Buffer =>
  Buffer.concat([avroLong(Buffer.byteLength(text)), Buffer.from(text)]);
