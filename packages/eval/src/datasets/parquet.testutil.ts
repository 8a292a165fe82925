// Test helper: a minimal parquet writer (one row group, required UTF-8 string columns, PLAIN, uncompressed,
// data page v1), written from the format spec so readers are tested on bytes hyparquet did not produce.
class Compact {
  bytes: number[] = [];
  private last: number[] = [0];
  varint(n: bigint): void {
    let v = n;
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v) b |= 0x80;
      this.bytes.push(b);
    } while (v);
  }
  zigzag(n: number): void {
    const v = BigInt(n);
    this.varint(v >= 0n ? v << 1n : (-v << 1n) - 1n);
  }
  field(id: number, type: number): void {
    const delta = id - this.last[this.last.length - 1]!;
    if (delta > 0 && delta < 16) this.bytes.push((delta << 4) | type);
    else {
      this.bytes.push(type);
      this.zigzag(id);
    }
    this.last[this.last.length - 1] = id;
  }
  i32(id: number, v: number): void {
    this.field(id, 5);
    this.zigzag(v);
  }
  i64(id: number, v: number): void {
    this.field(id, 6);
    this.zigzag(v);
  }
  str(id: number, s: string): void {
    this.field(id, 8);
    const b = Buffer.from(s, 'utf8');
    this.varint(BigInt(b.length));
    this.bytes.push(...b);
  }
  begin(id?: number): void {
    if (id !== undefined) this.field(id, 12);
    this.last.push(0);
  }
  end(): void {
    this.bytes.push(0);
    this.last.pop();
  }
  list(id: number, elemType: number, n: number): void {
    this.field(id, 9);
    this.bytes.push((n << 4) | elemType);
  }
}

/** A parquet file with one row group of required UTF-8 string columns (all the same length). */
export function parquetFile(columns: Record<string, string[]>): Buffer {
  const names = Object.keys(columns);
  const rows = columns[names[0]!]!.length;
  const chunks: { name: string; offset: number; bytes: number[] }[] = [];
  let offset = 4;
  for (const name of names) {
    const values = columns[name]!;
    const data: number[] = [];
    for (const v of values) {
      const b = Buffer.from(v, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      data.push(...len, ...b);
    }
    const page = new Compact();
    page.begin();
    page.i32(1, 0); // DATA_PAGE
    page.i32(2, data.length);
    page.i32(3, data.length);
    page.begin(5);
    page.i32(1, values.length);
    page.i32(2, 0); // PLAIN
    page.i32(3, 3); // RLE
    page.i32(4, 3);
    page.end();
    page.end();
    const bytes = [...page.bytes, ...data];
    chunks.push({ name, offset, bytes });
    offset += bytes.length;
  }
  const meta = new Compact();
  meta.begin();
  meta.i32(1, 1);
  meta.list(2, 12, names.length + 1);
  meta.begin();
  meta.str(4, 'schema');
  meta.i32(5, names.length);
  meta.end();
  for (const name of names) {
    meta.begin();
    meta.i32(1, 6); // BYTE_ARRAY
    meta.i32(3, 0); // REQUIRED
    meta.str(4, name);
    meta.i32(6, 0); // UTF8
    meta.end();
  }
  meta.i64(3, rows);
  meta.list(4, 12, 1);
  meta.begin();
  meta.list(1, 12, chunks.length);
  for (const c of chunks) {
    meta.begin();
    meta.i64(2, c.offset);
    meta.begin(3);
    meta.i32(1, 6);
    meta.list(2, 5, 1);
    meta.zigzag(0);
    meta.list(3, 8, 1);
    meta.varint(BigInt(Buffer.byteLength(c.name)));
    meta.bytes.push(...Buffer.from(c.name));
    meta.i32(4, 0); // UNCOMPRESSED
    meta.i64(5, rows);
    meta.i64(6, c.bytes.length);
    meta.i64(7, c.bytes.length);
    meta.i64(9, c.offset);
    meta.end();
    meta.end();
  }
  meta.i64(2, offset - 4);
  meta.i64(3, rows);
  meta.end();
  meta.end();
  const footerLen = Buffer.alloc(4);
  footerLen.writeUInt32LE(meta.bytes.length);
  return Buffer.concat([Buffer.from('PAR1'), ...chunks.map((c) => Buffer.from(c.bytes)), Buffer.from(meta.bytes), footerLen, Buffer.from('PAR1')]);
}
