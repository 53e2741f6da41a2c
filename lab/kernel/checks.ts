/**
 * Checks only the kernel lab can pass: the reference README reads its tunnels with `ip a show type wireguard`,
 * which lists kernel WireGuard links only (wireguard-go's devices are TUN links of kind "tun").
 */
import type { Check, CheckContext, CheckResult } from "../checks.ts";
import type { ExampleContainer } from "../scenario.ts";

/** `ip a show type wireguard` in `c` lists exactly `want`. */
async function wireguardListed(ctx: CheckContext, c: ExampleContainer, want: string[]): Promise<CheckResult> {
  const check = `ip a show type wireguard in ${c}`;
  const expected = want.join(" ");
  const r = await ctx.inContainer(c, ["ip", "-j", "addr", "show", "type", "wireguard"]);
  if (r.code !== 0) return { check, expected, observed: r.stderr.trim() || `exit ${r.code}`, status: "FAIL" };
  const names = (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname).sort();
  const ok = JSON.stringify(names) === JSON.stringify([...want].sort());
  return { check, expected, observed: names.join(" ") || "none", status: ok ? "ok" : "FAIL" };
}

/** The README's WireGuard links of each container, listed by kind. */
export const KERNEL_CHECKS: Check[] = [
  (ctx) => wireguardListed(ctx, "agent1", ["wg-lax1-lax2-0", "wg1"]),
  (ctx) => wireguardListed(ctx, "agent2", ["wg-lax2-lax1-0", "wg2"]),
];
