import assert from "node:assert/strict";
import { cgroupMountsFor, hasCgroupMounts } from "../../lab/podman/cgroups.ts";
import { exec } from "../../kit/proc.ts";
import { withNetns } from "../../kit/netns.ts";
import { skipUnless } from "../helpers/caps.ts";

Deno.test("cgroupMountsFor: hybrid v1 layout of this machine, named hierarchy, v2 at unified", () => {
  const text = "9:name=systemd:/\n8:pids:/\n2:cpuacct:/\n1:cpu:/\n4:memory:/process_api/a0\n3:cpu,cpuacct:/x\n0::/\n";
  assert.deepEqual(cgroupMountsFor(text), [
    { fstype: "tmpfs", options: "mode=755", target: "/sys/fs/cgroup" },
    { fstype: "cgroup", options: "none,name=systemd", target: "/sys/fs/cgroup/systemd" },
    { fstype: "cgroup", options: "pids", target: "/sys/fs/cgroup/pids" },
    { fstype: "cgroup", options: "cpuacct", target: "/sys/fs/cgroup/cpuacct" },
    { fstype: "cgroup", options: "cpu", target: "/sys/fs/cgroup/cpu" },
    { fstype: "cgroup", options: "memory", target: "/sys/fs/cgroup/memory" },
    { fstype: "cgroup", options: "cpu,cpuacct", target: "/sys/fs/cgroup/cpu,cpuacct" },
    { fstype: "cgroup2", options: "", target: "/sys/fs/cgroup/unified" },
  ]);
});

Deno.test("cgroupMountsFor: pure v2 mounts cgroup2 at the root; nothing known, nothing mounted", () => {
  assert.deepEqual(cgroupMountsFor("0::/user.slice\n"), [{ fstype: "cgroup2", options: "", target: "/sys/fs/cgroup" }]);
  assert.deepEqual(cgroupMountsFor(""), []);
  assert.deepEqual(cgroupMountsFor("garbage\n"), []);
});

Deno.test("hasCgroupMounts tells a netns-exec sysfs from the machine's view", () => {
  const host = [
    "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
  ].join("\n");
  const netnsExec = [
    "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
    "47 44 0:38 / /sys rw,relatime - sysfs dn42op-suite rw",
  ].join("\n");
  assert.equal(hasCgroupMounts(host), true);
  assert.equal(hasCgroupMounts(netnsExec), false);
  assert.equal(hasCgroupMounts("30 22 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw"), false, "tmpfs alone is not enough");
  assert.equal(hasCgroupMounts("9 1 0:9 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw"), true);
});

Deno.test({
  name: "ensureCgroupMounts: processes sharing one `ip netns exec` mount namespace take turns; each sees the layout",
  ignore: skipUnless("root"),
  fn: () =>
    withNetns(async (ns) => {
      const script = `import { ensureCgroupMounts } from "${new URL("../../lab/podman/cgroups.ts", import.meta.url)}";
console.log(await ensureCgroupMounts());`;
      const each = `"${Deno.execPath()}" eval --quiet '${script}'`;
      // Six at once in the fresh mount namespace `ip netns exec` gives: one mounts, the others find its layout.
      const r = await exec([
        "ip",
        "netns",
        "exec",
        ns.name,
        "sh",
        "-c",
        `for i in 1 2 3 4 5 6; do ${each} & done; wait`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const said = r.stdout.trim().split("\n").sort();
      assert.equal(said.length, 6, `${r.stdout}\n${r.stderr}`);
      assert.deepEqual(said, ["mounted", "present", "present", "present", "present", "present"], r.stderr);
    }, { tag: "cg" }),
});
