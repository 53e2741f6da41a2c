/**
 * Text formatting of the CLI (pure): kubectl-style ages and tables, byte counts, and ANSI colour that is applied only
 * when asked (main asks on a terminal without NO_COLOR), so piped output stays plain.
 */

/** Cell colours. */
export type Colour = "red" | "yellow" | "green" | "dim";

const SGR: Record<Colour, string> = { red: "31", yellow: "33", green: "32", dim: "2" };

/** A table cell: its text and an optional colour. */
export type Cell = string | { text: string; colour?: Colour };

function cellText(c: Cell): string {
  return typeof c === "string" ? c : c.text;
}

/** `text` in `colour` when `colour` is on. */
export function paint(text: string, colour: Colour | undefined, on: boolean): string {
  return on && colour ? `\x1b[${SGR[colour]}m${text}\x1b[0m` : text;
}

/**
 * A kubectl-style table: upper-case headers, columns left-aligned and separated by three spaces, no trailing spaces.
 * Colours wrap the padded text of a cell, so alignment does not depend on them.
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly Cell[])[], colour: boolean): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => cellText(r[i] ?? "").length)));
  const line = (cells: readonly Cell[]) =>
    cells.map((c, i) => {
      const text = cellText(c);
      const padded = i === cells.length - 1 ? text : text.padEnd(widths[i]);
      return paint(padded, typeof c === "string" ? undefined : c.colour, colour);
    }).join("   ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

/**
 * A duration in kubectl's style (k8s.io/apimachinery HumanDuration): 45s, 3m12s, 25m, 5h10m, 30h, 3d4h, 12d, 2y30d.
 */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  return d % 365 && y < 8 ? `${y}y${d % 365}d` : `${y}y`;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** A byte count with a binary unit and at most one decimal: 0 B, 980 B, 1.5 KiB, 12 MiB. */
export function humanBytes(n: number): string {
  let v = Math.max(0, n);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  const text = u === 0 || v >= 10 ? String(Math.round(v)) : v.toFixed(1).replace(/\.0$/, "");
  return `${text} ${UNITS[u]}`;
}

/** The first 8 characters of a key and an ellipsis (keys are 44 characters). */
export function shortKey(key: string): string {
  return key.length > 10 ? `${key.slice(0, 8)}…` : key;
}

/** `text` wrapped at word boundaries into lines of at most `width` characters; later lines start with `indent`. */
export function wrap(text: string, width: number, indent = ""): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.join(`\n${indent}`);
}
