/** Small helpers for passing strings and reading memory across FFI. */

const enc = new TextEncoder();

/** A NUL-terminated UTF-8 copy of `s` for a `buffer` parameter. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(enc.encode(s).length + 1);
  enc.encodeInto(s, b);
  return b;
}

/** Copies the NUL-terminated string at `p` (null → null). */
export function readCString(p: Deno.PointerValue): string | null {
  return p === null ? null : Deno.UnsafePointerView.getCString(p);
}

/** An out-parameter slot for `T **` (one pointer). */
export class PointerSlot {
  readonly buf = new BigUint64Array(1);
  /** The pointer written by the callee (null when it wrote NULL). */
  get value(): Deno.PointerValue {
    return Deno.UnsafePointer.create(this.buf[0]);
  }
}
