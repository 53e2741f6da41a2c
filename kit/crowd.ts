/**
 * Test and benchmark helper: fills a throwaway namespace with many links that carry addresses (veth pairs, admin
 * down so the kernel adds no link-locals), in one `ip -batch` so that setting up stays cheap.
 */
import { exec } from "./proc.ts";
import type { TestNetns } from "./netns.ts";

/** Creates `pairs` veth pairs `<prefix>a<i>`/`<prefix>b<i>`, each end with one IPv4 /32 and one IPv6 /128. */
export async function crowd(t: TestNetns, pairs: number, prefix = "cr"): Promise<{ links: number; addresses: number }> {
  if (pairs > 0xffff) throw new RangeError(`crowd: at most 65535 pairs, got ${pairs}`);
  const lines: string[] = [];
  for (let i = 0; i < pairs; i++) {
    const [hi, lo] = [i >> 8, i & 0xff];
    lines.push(`link add ${prefix}a${i} type veth peer name ${prefix}b${i}`);
    lines.push(`address add 10.${hi}.${lo}.1/32 dev ${prefix}a${i}`);
    lines.push(`address add 10.${hi}.${lo}.2/32 dev ${prefix}b${i}`);
    lines.push(`address add fd00::${i.toString(16)}:1/128 dev ${prefix}a${i} nodad`);
    lines.push(`address add fd00::${i.toString(16)}:2/128 dev ${prefix}b${i} nodad`);
  }
  const cmd = ["ip", "-n", t.name, "-batch", "-"];
  const r = await exec(cmd, { stdin: lines.join("\n") + "\n" });
  if (r.code !== 0) throw new Error(`${cmd.join(" ")}: exit ${r.code}: ${r.stderr.trim()}`);
  return { links: 2 * pairs, addresses: 4 * pairs };
}
